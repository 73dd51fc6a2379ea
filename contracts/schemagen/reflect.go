package schemagen

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// reflector builds the JSON Schema of one Go message type. Each message (a request, a response,
// an event's data) becomes its own schema resource with its own $id and $defs, because the same
// Go type may be strict in a request and open in a response: sharing one $defs would force one
// of the two.
type reflector struct {
	comments map[string]string
}

// message reflects v's type. strict closes every object (additionalProperties false), which is
// what the runtime's request decoder enforces; open messages are what Go's lenient decoding of
// replies and events accepts, so producers may add fields without breaking consumers.
//
// Required is invopop's default, the same rule as bus's request decoder: a field without
// omitempty or omitzero must be present.
func (g *reflector) message(v any, id string, strict bool) (*jsonschema.Schema, error) {
	t := reflect.TypeOf(v)
	if t == nil {
		// An interface-typed message: anything goes.
		return &jsonschema.Schema{ID: jsonschema.ID(id)}, nil
	}
	n := &namer{seen: map[string]reflect.Type{}}
	r := &jsonschema.Reflector{
		Anonymous:                  true,
		RequiredFromJSONSchemaTags: false,
		AllowAdditionalProperties:  !strict,
		Namer:                      n.name,
		Mapper:                     func(t reflect.Type) *jsonschema.Schema { return mapType(t, strict) },
		CommentMap:                 g.comments,
	}
	s, err := reflectSafely(r, t)
	if err != nil {
		return nil, err
	}
	if n.err != nil {
		return nil, n.err
	}
	for name, dt := range n.seen {
		if def := s.Definitions[name]; def != nil && dt.Kind() == reflect.Struct {
			allowNulls(def, dt)
			if err := applyRules(def, dt); err != nil {
				return nil, err
			}
		}
	}
	s.Version = "" // only the document root names the dialect
	s.ID = jsonschema.ID(id)
	if nilable(t) {
		// A nil root (a nil slice reply, say) is encoded as null.
		inner := *s
		inner.ID, inner.Definitions = "", nil
		s = &jsonschema.Schema{ID: s.ID, Definitions: s.Definitions, AnyOf: []*jsonschema.Schema{&inner, {Type: "null"}}}
	}
	return s, nil
}

// nilable reports Go types whose nil value encoding/json writes as null.
func nilable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Slice, reflect.Map, reflect.Pointer:
		return true
	}
	return false
}

// allowNulls lets the properties of def whose Go field is a slice, map or pointer be null:
// encoding/json writes a nil one as null, and decodes null into it without complaint, so a
// schema that forbade null would reject what Go services send and accept every day.
func allowNulls(def *jsonschema.Schema, t reflect.Type) {
	if def.Properties == nil {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				allowNulls(def, et) // promoted fields live in the embedding type's schema
			}
			continue
		}
		if !f.IsExported() || !nilable(f.Type) {
			continue
		}
		if name == "" {
			name = f.Name
		}
		p, ok := def.Properties.Get(name)
		if !ok || len(p.AnyOf) > 0 {
			continue
		}
		inner := *p
		inner.Description = ""
		def.Properties.Set(name, &jsonschema.Schema{Description: p.Description, AnyOf: []*jsonschema.Schema{&inner, {Type: "null"}}})
	}
}

// reflectSafely turns invopop's panics (unsupported kinds such as channels or funcs) into errors
// that name the type, so a bad contract type fails generation with a message, not a trace.
func reflectSafely(r *jsonschema.Reflector, t reflect.Type) (s *jsonschema.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("schemagen: %s cannot be described as JSON Schema: %v", t, p)
		}
	}()
	return r.ReflectFromType(t), nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// mapType overrides the reflection of types whose JSON form is not what their kind suggests.
// Strict (request) messages get closed enums, open ones known values (enumSchema).
func mapType(t reflect.Type, strict bool) *jsonschema.Schema {
	if t == durationType {
		return &jsonschema.Schema{Type: "integer", Description: "a duration in nanoseconds"}
	}
	return enumSchema(t, strict)
}

// namer names $defs entries after their Go types. Generic instantiations get a readable name
// (Page[…contracts.Product] → Page_Product), and two different types that would share a name
// in one schema are an error rather than a silent overwrite.
type namer struct {
	seen map[string]reflect.Type
	err  error
}

var (
	qualifier = regexp.MustCompile(`[A-Za-z0-9_./-]*[./]`)
	notIdent  = regexp.MustCompile(`[^A-Za-z0-9_]+`)
)

func (n *namer) name(t reflect.Type) string {
	name := t.Name()
	if name == "" {
		return ""
	}
	if strings.ContainsRune(name, '[') {
		name = qualifier.ReplaceAllString(name, "")
		name = strings.Trim(notIdent.ReplaceAllString(name, "_"), "_")
	}
	if prev, ok := n.seen[name]; ok && prev != t && n.err == nil {
		n.err = fmt.Errorf("schemagen: types %s and %s both map to the schema name %q", prev, t, name)
	}
	n.seen[name] = t
	return name
}

// openMapType is mapType for open documents (envelopes, error replies).
func openMapType(t reflect.Type) *jsonschema.Schema { return mapType(t, false) }
