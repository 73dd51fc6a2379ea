package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"

	"github.com/moa-run/moa/contracts"
)

// Validator is implemented by request types that check more than presence and JSON types
// (formats, ranges, cross-field rules). Validate should return contracts.ErrValidation with
// OnField naming the field.
type Validator interface{ Validate() error }

// requiredFields lists, per struct type, the JSON names of fields without omitempty. The same
// rule decides "required" in the generated JSON Schemas (invopop/jsonschema's default), so Go
// and non-Go callers see one contract.
var requiredFields sync.Map // reflect.Type -> []string

func required(t reflect.Type) []string {
	if v, ok := requiredFields.Load(t); ok {
		return v.([]string)
	}
	var names []string
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || f.Anonymous {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			if strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") {
				continue
			}
			names = append(names, name)
		}
	}
	requiredFields.Store(t, names)
	return names
}

// decodeRequest decodes a request body strictly: valid JSON, no unknown fields, every required
// field present, then the type's own Validate. Every failure is a *contracts.Error naming the
// field, so a caller never sees a timeout or a panic for bad input.
func decodeRequest[T any](data []byte) (T, error) {
	var v T
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Struct {
		if names := required(t); len(names) > 0 {
			var present map[string]json.RawMessage
			if err := json.Unmarshal(data, &present); err != nil {
				return v, jsonError(err)
			}
			for _, n := range names {
				if _, ok := present[n]; !ok {
					return v, contracts.ErrValidation.OnField(n, "%s is required", n)
				}
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, jsonError(err)
	}
	if dec.More() {
		return v, contracts.ErrBadRequest.Msg("trailing data after the JSON value")
	}
	if val, ok := any(&v).(Validator); ok {
		if err := val.Validate(); err != nil {
			return v, err
		}
	} else if val, ok := any(v).(Validator); ok {
		if err := val.Validate(); err != nil {
			return v, err
		}
	}
	return v, nil
}

// jsonError maps encoding/json's errors to catalogue errors.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return contracts.ErrBadRequest.Msg("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return contracts.ErrBadRequest.Msg("the body must be a JSON %s, not %s", typ.Type.Kind(), typ.Value)
		}
		return contracts.ErrValidation.OnField(field, "%s must be %s, not %s", field, kindName(typ.Type), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return contracts.ErrUnknownField.OnField(name, "unknown field %s", name)
	default:
		return contracts.ErrBadRequest.Msg("malformed JSON: %v", err)
	}
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}
