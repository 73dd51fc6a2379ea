package schemagen

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/moa-run/moa/contracts"
)

// Field rules (contracts.Rules) and closed value sets (contracts.Enumerated) become JSON
// Schema keywords here, so the schema states every rule the Go validation applies.

var (
	enumeratedType = typeOf[contracts.Enumerated]()
	ruledType      = typeOf[contracts.Ruled]()
)

// enumSchema is the schema of a string type with a closed set of values. In requests (strict)
// the values are an enum: nothing else is accepted. In replies and events they are listed as
// x-moa-known-values: a newer service may send a value this schema does not list yet (a new
// state), and clients must keep it rather than fail.
func enumSchema(t reflect.Type, strict bool) *jsonschema.Schema {
	if t.Kind() != reflect.String || !t.Implements(enumeratedType) {
		return nil
	}
	values := reflect.Zero(t).Interface().(contracts.Enumerated).EnumValues()
	if strict {
		return &jsonschema.Schema{Type: "string", Enum: strs(values)}
	}
	return &jsonschema.Schema{Type: "string", Extras: map[string]any{"x-moa-known-values": values}}
}

func strs(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

// applyRules writes the rules of t (a struct implementing contracts.Ruled) into def, its
// reflected schema. A rule for a field the schema does not have is an error: it would state
// nothing, and the rule's author meant something.
func applyRules(def *jsonschema.Schema, t reflect.Type) error {
	if !t.Implements(ruledType) {
		return nil
	}
	rules := reflect.Zero(t).Interface().(contracts.Ruled).Rules()
	for name, r := range rules.Fields {
		p, ok := def.Properties.Get(name)
		if !ok {
			return fmt.Errorf("schemagen: %s has a rule for %q, which is not one of its JSON fields", t, name)
		}
		applyRule(valueSchema(p), r)
	}
	fieldTypes := jsonFields(t)
	// present requires the fields and that each has a value Go does not take for absence.
	present := func(names ...string) (*jsonschema.Schema, error) {
		props := jsonschema.NewProperties()
		for _, name := range names {
			ft, ok := fieldTypes[name]
			if !ok {
				return nil, fmt.Errorf("schemagen: %s has a rule naming %q, which is not one of its JSON fields", t, name)
			}
			props.Set(name, &jsonschema.Schema{Not: &jsonschema.Schema{Enum: absent(ft)}})
		}
		return &jsonschema.Schema{Required: names, Properties: props}, nil
	}
	for name, deps := range rules.DependentRequired {
		s, err := present(deps...)
		if err != nil {
			return err
		}
		if def.DependentSchemas == nil {
			def.DependentSchemas = map[string]*jsonschema.Schema{}
		}
		def.DependentSchemas[name] = s
	}
	if len(rules.Checks) > 0 {
		if def.Extras == nil {
			def.Extras = map[string]any{}
		}
		def.Extras["x-moa-checks"] = rules.Checks
	}
	for _, name := range rules.AnyOfRequired {
		s, err := present(name)
		if err != nil {
			return err
		}
		def.AnyOf = append(def.AnyOf, s)
	}
	return nil
}

// absent lists the JSON values that Go decodes into a field of type t as if it were absent:
// null for pointers, and for other fields also their zero value (encoding/json cannot tell
// "up_to": 0 from no up_to).
func absent(t reflect.Type) []any {
	out := []any{nil}
	switch t.Kind() {
	case reflect.Pointer:
	case reflect.String:
		out = append(out, "")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		out = append(out, 0)
	case reflect.Bool:
		out = append(out, false)
	case reflect.Slice, reflect.Map:
		out = append(out, []any{})
	}
	return out
}

// jsonFields maps the JSON names of t's fields (promoted ones included) to their Go types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// valueSchema is the schema of a property's non-null values (allowNulls wraps nilable ones
// in anyOf [value, null]).
func valueSchema(p *jsonschema.Schema) *jsonschema.Schema {
	if len(p.AnyOf) == 2 && p.AnyOf[1].Type == "null" {
		return p.AnyOf[0]
	}
	return p
}

func applyRule(s *jsonschema.Schema, r contracts.Rule) {
	if r.Enum != nil {
		s.Enum = strs(r.Enum)
	}
	if r.MinLength > 0 {
		n := uint64(r.MinLength)
		s.MinLength = &n
	}
	if r.MaxLength > 0 {
		n := uint64(r.MaxLength)
		s.MaxLength = &n
	}
	if r.MaxBytes > 0 {
		if s.Extras == nil {
			s.Extras = map[string]any{}
		}
		s.Extras["x-moa-max-bytes"] = r.MaxBytes
	}
	if r.Pattern != "" && r.Enum == nil {
		s.Pattern = r.Pattern
	}
	if r.Format != "" {
		s.Format = r.Format
	}
	if r.Min != nil {
		s.Minimum = json.Number(strconv.FormatInt(*r.Min, 10))
	}
	if r.Max != nil {
		s.Maximum = json.Number(strconv.FormatInt(*r.Max, 10))
	}
	if r.MaxItems > 0 {
		n := uint64(r.MaxItems)
		s.MaxItems = &n
	}
	if r.Items != nil && s.Items != nil {
		applyRule(valueSchema(s.Items), *r.Items)
	}
	if r.Example != nil {
		s.Examples = []any{r.Example}
	}
}
