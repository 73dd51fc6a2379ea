package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moa-run/moa/contracts"
)

// Validator is implemented by request types that check more than presence and JSON types
// (formats, ranges, cross-field rules). Validate should return contracts.ErrValidation with
// OnField naming the field.
type Validator interface{ Validate() error }

// field is one required JSON field of a struct type.
type field struct {
	name     string
	nullable bool         // pointers, slices and maps may be null; Go writes nil ones so
	elem     reflect.Type // struct type to check inside (the field's, or its slice element's)
	slice    bool
}

// requiredFields lists, per struct type, the fields without omitempty. The same rule decides
// "required" in the generated JSON Schemas (invopop/jsonschema's default), so Go and non-Go
// callers see one contract.
var requiredFields sync.Map // reflect.Type -> []field

func required(t reflect.Type) []field {
	if v, ok := requiredFields.Load(t); ok {
		return v.([]field)
	}
	var fields []field
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
		fd := field{name: name}
		ft := f.Type
		switch ft.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Interface:
			fd.nullable = true
		case reflect.Slice:
			fd.nullable = ft != reflect.TypeFor[json.RawMessage]()
			if ft.Elem().Kind() == reflect.Struct {
				fd.elem, fd.slice = ft.Elem(), true
			}
		case reflect.Struct:
			if ft != reflect.TypeFor[time.Time]() {
				fd.elem = ft
			}
		}
		fields = append(fields, fd)
	}
	requiredFields.Store(t, fields)
	return fields
}

// checkRequired walks obj (a JSON object) and reports the first required field of t that is
// missing or null where null is not allowed, with its dotted path. It only scans the bytes (no
// decoding): the strict decode that follows reports malformed input and wrong types.
func checkRequired(t reflect.Type, obj []byte, path string) error {
	ms, ok := members(obj)
	if !ok {
		return nil
	}
	for _, f := range required(t) {
		p := path + f.name
		raw, present := lookup(ms, f.name)
		isNull := present && string(raw) == "null"
		if !present || (isNull && !f.nullable) {
			return contracts.ErrValidation.OnField(p, "%s is required", p)
		}
		if f.elem == nil || isNull {
			continue
		}
		if !f.slice {
			if err := checkRequired(f.elem, raw, p+"."); err != nil {
				return err
			}
			continue
		}
		for i, it := range elements(raw) {
			if err := checkRequired(f.elem, it, p+"["+strconv.Itoa(i)+"]."); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeRequest decodes a request body strictly: valid JSON, no unknown fields, every required
// field present (at any depth) and not null unless nullable, then the type's own Validate.
// Every failure is a *contracts.Error naming the field, so a caller never sees a timeout or a
// panic for bad input.
func decodeRequest[T any](data []byte) (T, error) {
	var v T
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Struct && hasRequired(t) {
		if err := checkRequired(t, data, ""); err != nil {
			return v, err
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

// hasRequired reports whether t has any required field (so the presence pass can be skipped).
func hasRequired(t reflect.Type) bool { return len(required(t)) > 0 }

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
			return contracts.ErrBadRequest.Msg("the body must be %s, not %s", kindName(typ.Type), typ.Value)
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
