package contracts

// Field rules: the validation rules of request fields in a form that JSON Schema states, so
// that a client written from contracts/schemas alone knows every allowed value and limit.
//
// Each request type with rules has a Rules method next to its Validate. Both are written
// from the same constants (MaxTitleLen, MaxPageSize, the enum values, …), schemagen turns the
// rules into enum, minLength/maxLength, minimum/maximum, pattern and format keywords (and
// dependentSchemas, anyOf, x-moa-checks for rules between fields), and
// contracts/schemagen/requestgen generates requests from the schemas (valid ones, and ones
// violating one rule). contracts/rules_test.go checks that Validate agrees (valid ones pass,
// invalid ones fail naming the field) and each service's schema_agreement_test.go that the
// running service does. A rule changed on one side only fails those tests.
//
// Where a service normalises input before checking it (trimming a title, collapsing the spaces
// of a search query), the schema describes the normal form: a client that sends it is never
// refused, and the service is lenient beyond it.

// Rule is the constraints of one field's value. Lengths count characters (Unicode code
// points), as JSON Schema does; MaxBytes is the UTF-8 bound of fields the services count in
// bytes (written as x-moa-max-bytes, with maxLength set to the same number, which is exact for
// ASCII).
type Rule struct {
	Enum      []string // the allowed values of a string
	MinLength int      // characters; 0: none
	MaxLength int      // characters; 0: none
	MaxBytes  int      // UTF-8 bytes; 0: none
	Pattern   string   // an ECMA-262 (and RE2) regular expression the string matches somewhere
	Format    string   // a JSON Schema format: email, uuid, uri
	Min, Max  *int64   // inclusive bounds of a number
	MaxItems  int      // arrays; 0: none
	Items     *Rule    // arrays: the rule of every item
	Example   any      // a valid value, written as examples
}

// Rules are a message's field rules by JSON name, and the rules that tie fields together.
type Rules struct {
	Fields map[string]Rule
	// DependentRequired: when the key field is present, the listed fields must be too.
	DependentRequired map[string][]string
	// AnyOfRequired: at least one of these fields must be present (and valid by its rule).
	AnyOfRequired []string
	// Checks are rules JSON Schema cannot state (one field compared with another), written
	// as x-moa-checks so that a client can apply them by hand.
	Checks []Check
}

// Check is a rule of one field that JSON Schema cannot state.
type Check struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

// Ruled is implemented by message types that declare field rules.
type Ruled interface{ Rules() Rules }

// Enumerated is implemented by string types with a closed set of values (roles, billing
// periods, sorts, states); schemagen writes the values as the type's enum everywhere it
// appears. A request field may narrow it with its own Rule.
type Enumerated interface{ EnumValues() []string }

// Patterns shared by rules and tested by rules_test against the Go checks they describe. They
// use only syntax that ECMA-262 (JSON Schema's dialect) and RE2 read alike; Unicode white
// space is spelled out (spaceChars) because \s means ASCII white space only in RE2.
const (
	// spaceChars is every character unicode.IsSpace accepts, inside a character class.
	spaceChars = `\s` + "\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
	controls   = `\x00-\x1f\x7f-\x9f`
	// PatternUUID is a UUID in canonical text form (IsUUID).
	PatternUUID = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// PatternToken is a value that passes Token (besides its byte bound): no '.', '*', '>',
	// white space or control characters.
	PatternToken = `^[^.*>` + spaceChars + controls + `]+$`
	// PatternCurrency is the shape of an ISO 4217 code.
	PatternCurrency = `^[A-Z]{3}$`
	// PatternTag is a tag: letters, digits, '-' and '_'.
	PatternTag = `^[\p{L}\p{Nd}_-]+$`
	// PatternLine is one line of text with a non-space character and no control character.
	PatternLine = `^[^` + controls + `]*[^` + spaceChars + controls + `][^` + controls + `]*$`
	// PatternNoControl is text without control characters (possibly empty).
	PatternNoControl = `^[^` + controls + `]*$`
	// multiline is the class of text characters that may break lines: no control character
	// but tab, line feed and carriage return.
	multiline = `[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]`
	// PatternMultiline is text with line breaks and tabs but no other control character.
	PatternMultiline = `^` + multiline + `*$`
	// PatternMultilineText is PatternMultiline with a non-space character.
	PatternMultilineText = `^` + multiline + `*[^` + spaceChars + controls + `]` + multiline + `*$`
	// chatChar is a character of a chat message: line breaks (LF, CR) but no tab or other
	// control character.
	chatChar = `[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]`
	// PatternChatText is a chat message with a non-space character.
	PatternChatText = `^` + chatChar + `*[^` + spaceChars + controls + `]` + chatChar + `*$`
	// searchChar is a character of a search query: any white space (collapsed to one space),
	// no other control character.
	searchChar = `[^\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]`
	// PatternSearchText is a search query or prefix with a non-space character.
	PatternSearchText = `^` + searchChar + `*[^` + spaceChars + controls + `]` + searchChar + `*$`
	// PatternNotBlank is a string with a non-space character.
	PatternNotBlank = `[^` + spaceChars + `]`
	// PatternHTTPURL is an absolute http or https URL with a host and no user info.
	PatternHTTPURL = `^[hH][tT][tT][pP][sS]?://[^/?#@` + spaceChars + controls + `]+([/?#][^` + spaceChars + controls + `]*)?$`
)

// Examples used by rules (valid values a client can copy).
const (
	exampleUUID  = "0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a01"
	exampleEmail = "mina@example.com"
)

func ptr64(n int64) *int64 { return &n }

// rangeRule bounds an integer.
func rangeRule(lo, hi int64) Rule { return Rule{Min: ptr64(lo), Max: ptr64(hi)} }

// limitRule is a page size: 0 (the default) or 1..most.
func limitRule(most int) Rule { return rangeRule(0, int64(most)) }

// optional lets the zero value of an omitempty field through: encoding/json cannot tell
// "limit": 0 or "tag": "" from an absent field, so the services accept them as absent, and
// the schema must too. A format is dropped (no format accepts ""); the pattern still states
// the value's form.
func optional(r Rule) Rule {
	if r.Pattern != "" {
		r.Format = ""
	}
	switch {
	case r.Enum != nil:
		r.Enum = append([]string{""}, r.Enum...)
	case r.Pattern != "":
		r.Pattern = `^$|` + r.Pattern
		r.MinLength = 0
	default:
		r.MinLength = 0
	}
	return r
}

var (
	ruleUUID   = Rule{Pattern: PatternUUID, Format: "uuid", Example: exampleUUID}
	ruleToken  = Rule{MinLength: 1, MaxLength: MaxTokenLen, MaxBytes: MaxTokenLen, Pattern: PatternToken, Example: "r-1"}
	ruleEmail  = Rule{MinLength: 3, MaxLength: MaxEmailLen, MaxBytes: MaxEmailLen, Format: "email", Example: exampleEmail}
	ruleLimit  = limitRule(MaxPageSize)
	ruleCursor = Rule{MaxLength: MaxCursorLen, MaxBytes: MaxCursorLen}
	// checkCursor: a cursor is opaque; only the service can read it.
	checkCursor = Check{Field: "cursor", Rule: "a next_cursor of the same list (same sort and filters), or empty"}
	ruleTag     = Rule{MinLength: 1, MaxLength: MaxTagLen, Pattern: PatternTag, Example: "yoga"}
)

// Product field rules, shared by create and update.
var productRules = map[string]Rule{
	"title":          {MinLength: 1, MaxLength: MaxTitleLen, Pattern: PatternLine, Example: "Tea club"},
	"description":    {MaxLength: MaxDescriptionLen, Pattern: PatternMultiline},
	"price_amount":   rangeRule(0, MaxPriceAmount),
	"currency":       {Enum: ActiveCurrencies(), Pattern: PatternCurrency, Example: "KRW"},
	"billing_period": {Enum: BillingPeriod("").EnumValues()},
	"terms":          {MinLength: 1, MaxLength: MaxTermsLen, Pattern: PatternMultilineText, Example: "Cancel any time."},
	"capacity":       rangeRule(1, MaxCapacity),
	"tags":           {MaxItems: MaxTags, Items: &ruleTag},
	"image_urls": {MaxItems: MaxImages, Items: &Rule{MaxLength: MaxImageURLLen, MaxBytes: MaxImageURLLen, Pattern: PatternHTTPURL,
		Format: "uri", Example: "https://img.example.com/tea.png"}},
}

func fields(kv ...any) map[string]Rule {
	m := make(map[string]Rule, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(Rule)
	}
	return m
}
