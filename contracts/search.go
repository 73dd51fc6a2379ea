package contracts

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SearchService keeps the search history of signed-in users: their recent searches, the
// searches popular across everyone, and prefix suggestions built from both. It learns about
// searches from CatalogSearched events and from SearchRecord calls.
var SearchService = Service{Name: "search", Version: "1.0.0", Major: 1,
	Description: "search history: recent, popular and suggested searches"}

// Search history limits, part of the contract so that forms and non-Go callers can check early.
// A query is at most MaxSearchQueryLen characters after normalisation (see
// NormalizeSearchQuery), the same bound the catalog applies to its searches.
const (
	SearchRecentMax      = 20 // recent searches kept per user
	SearchPopularMax     = 50 // largest popular page
	SearchPopularDefault = 10
	SearchWindowHoursMax = 24 // the popular window: the current hour and the 23 before it
	SearchSuggestMax     = 20
	SearchSuggestDefault = 10
	// SearchPopularBucket is the granularity of the popular window: counts are kept per
	// bucket, and a bucket leaves the window as a whole.
	SearchPopularBucket = time.Hour
)

// Suggestion sources.
const (
	SuggestionRecent  = "recent"  // the caller searched it
	SuggestionPopular = "popular" // searched by many in the window
)

// Search endpoints. record, recent, delete_recent and clear_recent act on the caller's own
// history: the user is the one of the verified access token, never a field of the request.
// popular needs no token; suggest uses one when present (to add the caller's recent searches).
var (
	SearchRecord = Endpoint[SearchRecordRequest, SearchRecordResponse]{Service: SearchService, Name: "record", Access: AccessSignedIn,
		Description: "record a search of the caller (for searches that do not go through the catalog)"}
	SearchRecent = Endpoint[SearchRecentRequest, SearchRecentResponse]{Service: SearchService, Name: "recent", Access: AccessSignedIn, Idempotent: true,
		Description: "the caller's recent searches, newest first, without duplicates"}
	SearchDeleteRecent = Endpoint[SearchDeleteRecentRequest, SearchDeleteRecentResponse]{Service: SearchService, Name: "delete_recent", Access: AccessSignedIn, Idempotent: true,
		Description: "remove one query from the caller's recent searches"}
	SearchClearRecent = Endpoint[Empty, SearchClearRecentResponse]{Service: SearchService, Name: "clear_recent", Access: AccessSignedIn, Idempotent: true,
		Description: "remove every recent search of the caller"}
	SearchPopular = Endpoint[SearchPopularRequest, SearchPopularResponse]{Service: SearchService, Name: "popular", Access: AccessAnonymous, Idempotent: true,
		Description: "the most searched queries over a sliding window of hourly buckets"}
	SearchSuggest = Endpoint[SearchSuggestRequest, SearchSuggestResponse]{Service: SearchService, Name: "suggest", Access: AccessAnonymous | AccessSignedIn, Idempotent: true,
		Description: "queries starting with a prefix: the caller's recent ones first, then popular ones"}
)

func init() {
	register(SearchRecord, SearchRecent, SearchDeleteRecent, SearchClearRecent, SearchPopular, SearchSuggest)
}

// SearchRecordRequest records one search of the caller.
type SearchRecordRequest struct {
	Query string `json:"query"`
}

// Validate checks the query.
func (r SearchRecordRequest) Validate() error {
	_, err := NormalizeSearchQuery("query", r.Query)
	return err
}

// ruleSearchQuery is NormalizeSearchQuery's rule, on the normal form: the service also
// collapses white space runs and trims before counting.
var ruleSearchQuery = Rule{MinLength: 1, MaxLength: MaxSearchQueryLen, Pattern: PatternSearchText, Example: "yoga class"}

// Rules states Validate's rules (see Rules).
func (SearchRecordRequest) Rules() Rules { return Rules{Fields: fields("query", ruleSearchQuery)} }

// SearchRecordResponse returns the query as it was stored (normalised).
type SearchRecordResponse struct {
	Query string    `json:"query"`
	At    time.Time `json:"at"`
}

// SearchRecentRequest asks for the caller's recent searches. Limit defaults to SearchRecentMax.
type SearchRecentRequest struct {
	Limit int `json:"limit,omitempty"`
}

// Validate checks the limit.
func (r SearchRecentRequest) Validate() error {
	return checkSearchLimit("limit", r.Limit, SearchRecentMax)
}

// Rules states Validate's rules (see Rules).
func (SearchRecentRequest) Rules() Rules {
	return Rules{Fields: fields("limit", limitRule(SearchRecentMax))}
}

// RecentSearch is one entry of a user's history. At is the last time the query was searched.
type RecentSearch struct {
	Query string    `json:"query"`
	At    time.Time `json:"at"`
}

// SearchRecentResponse lists recent searches, newest first.
type SearchRecentResponse struct {
	Items []RecentSearch `json:"items"`
}

// SearchDeleteRecentRequest removes one query (normalised like a recorded one) from the
// caller's history.
type SearchDeleteRecentRequest struct {
	Query string `json:"query"`
}

// Validate checks the query.
func (r SearchDeleteRecentRequest) Validate() error {
	_, err := NormalizeSearchQuery("query", r.Query)
	return err
}

// Rules states Validate's rules (see Rules).
func (SearchDeleteRecentRequest) Rules() Rules {
	return Rules{Fields: fields("query", ruleSearchQuery)}
}

// SearchDeleteRecentResponse tells whether the query was in the history. Deleting an absent
// query is not an error, so the call can be repeated.
type SearchDeleteRecentResponse struct {
	Deleted bool `json:"deleted"`
}

// SearchClearRecentResponse tells how many entries were removed.
type SearchClearRecentResponse struct {
	Deleted int64 `json:"deleted"`
}

// SearchPopularRequest asks for the top queries. Limit defaults to SearchPopularDefault;
// WindowHours (1..SearchWindowHoursMax, default the maximum) is how many hourly buckets count,
// the current one included: with 24, a search counts for between 23 and 24 hours.
type SearchPopularRequest struct {
	Limit       int `json:"limit,omitempty"`
	WindowHours int `json:"window_hours,omitempty"`
}

// Validate checks the limit and the window.
func (r SearchPopularRequest) Validate() error {
	if err := checkSearchLimit("limit", r.Limit, SearchPopularMax); err != nil {
		return err
	}
	return checkSearchLimit("window_hours", r.WindowHours, SearchWindowHoursMax)
}

// Rules states Validate's rules (see Rules).
func (SearchPopularRequest) Rules() Rules {
	return Rules{Fields: fields("limit", limitRule(SearchPopularMax), "window_hours", limitRule(SearchWindowHoursMax))}
}

// PopularSearch is a query and how many times it was searched in the window.
type PopularSearch struct {
	Query string `json:"query"`
	Count int64  `json:"count"`
}

// SearchPopularResponse lists the top queries, most searched first (ties by query).
// Since is the start of the oldest bucket counted.
type SearchPopularResponse struct {
	Items []PopularSearch `json:"items"`
	Since time.Time       `json:"since"`
}

// SearchSuggestRequest asks for queries starting with Prefix. The prefix is normalised like a
// query except that one trailing space is kept, so that "new " suggests "new york" but not
// "newton". Limit defaults to SearchSuggestDefault.
type SearchSuggestRequest struct {
	Prefix string `json:"prefix"`
	Limit  int    `json:"limit,omitempty"`
}

// Validate checks the prefix and the limit.
func (r SearchSuggestRequest) Validate() error {
	if _, err := NormalizeSearchPrefix("prefix", r.Prefix); err != nil {
		return err
	}
	return checkSearchLimit("limit", r.Limit, SearchSuggestMax)
}

// Rules states Validate's rules (see Rules).
func (SearchSuggestRequest) Rules() Rules {
	return Rules{Fields: fields("prefix", ruleSearchQuery, "limit", limitRule(SearchSuggestMax))}
}

// Suggestion is one suggested query. Source is SuggestionRecent or SuggestionPopular (Count is
// then its popularity in the window).
type Suggestion struct {
	Query  string `json:"query"`
	Source string `json:"source"`
	Count  int64  `json:"count,omitempty"`
}

// SearchSuggestResponse lists suggestions: the caller's recent matches first (newest first),
// then popular matches not already listed.
type SearchSuggestResponse struct {
	Items []Suggestion `json:"items"`
}

// NormalizeSearchQuery is the one normal form of a search query, so that "  Yoga   Class" and
// "yoga class" are the same entry: Unicode NFC (Hangul typed on systems that send decomposed
// jamo becomes the usual syllables), whitespace runs collapsed to one space, trimmed,
// lower-cased (scripts without case, like Korean, are unchanged). Control characters are
// rejected; the result must be 1..MaxSearchQueryLen characters. field names the input in errors.
func NormalizeSearchQuery(field, s string) (string, error) {
	q, err := normalizeSearch(field, s)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(q, " "), nil
}

// NormalizeSearchPrefix is NormalizeSearchQuery keeping one trailing space (a finished word).
func NormalizeSearchPrefix(field, s string) (string, error) {
	return normalizeSearch(field, s)
}

func normalizeSearch(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrValidation.OnField(field, "%s is not valid UTF-8", field)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range norm.NFC.String(s) {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r):
			return "", ErrValidation.OnField(field, "%s contains a control character", field)
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	if space {
		b.WriteByte(' ')
	}
	q := b.String()
	if strings.TrimSpace(q) == "" {
		return "", ErrValidation.OnField(field, "%s must not be blank", field)
	}
	if n := utf8.RuneCountInString(strings.TrimSuffix(q, " ")); n > MaxSearchQueryLen {
		return "", ErrValidation.OnField(field, "%s is longer than %d characters", field, MaxSearchQueryLen)
	}
	return q, nil
}

// checkSearchLimit accepts 0 (use the default) or 1..max.
func checkSearchLimit(field string, n, max int) error {
	if n < 0 || n > max {
		return ErrValidation.OnField(field, "%s must be between 1 and %d", field, max)
	}
	return nil
}
