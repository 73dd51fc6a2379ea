// Package requestgen generates requests from the schemas in contracts/schemas, to hold the
// schemas and the Go validation together: for every request type in the registry it builds a
// valid base request, then each field set to boundary and edge values, each constraint
// violated alone, each required field left out or null, and the cross-field rules broken. The
// schema itself (with x-moa-max-bytes) says whether each case is valid; [Case.Check] says
// whether a Go answer agrees: a valid request is accepted, an invalid one refused with an
// invalid-request error naming the field.
//
// contracts/rules_test.go runs every case through the contract's decoding and Validate; the
// services' agreement tests send them to the running service.
package requestgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen"
)

// Cases generates the cases of the request of every registered endpoint, by subject.
// Endpoints whose request has no fields have none.
func Cases() (map[string][]Case, error) {
	files, err := schemagen.Generate(schemagen.Registry(""))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for name, b := range files {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := c.AddResource(schemagen.BaseID+name, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	out := map[string][]Case{}
	for _, d := range contracts.Endpoints() {
		ep := d.Info()
		file := schemagen.EndpointFile(ep)
		s, err := c.Compile(schemagen.BaseID + file + "#/$defs/request")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		cases, err := requestCases(files[file], s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ep.Subject, err)
		}
		if len(cases) > 0 {
			out[ep.Subject] = cases
		}
	}
	return out, nil
}

// Check says whether err, the Go side's answer to c (nil: accepted), agrees with the schema.
// byBus is true when the request went through the bus's decoder, which alone refuses absent
// and null required fields (Go decodes them as zero values).
func (c Case) Check(err error, byBus bool) error {
	switch {
	case c.Valid:
		if err == nil {
			return nil
		}
		if e := contracts.AsError(err); e.Code == contracts.ErrValidation.Code && c.Checked[e.Field] {
			return nil // a rule the schema states only in x-moa-checks
		}
		return fmt.Errorf("%s: the schema accepts %s, Go refuses it: %w", c.Name, show(c.Body), err)
	case c.Required && !byBus && err == nil:
		return nil
	case err == nil:
		return fmt.Errorf("%s: the schema refuses %s, Go accepts it", c.Name, show(c.Body))
	}
	e := contracts.AsError(err)
	if e.Kind != contracts.KindInvalid {
		return fmt.Errorf("%s: refused with %s, not an invalid-request error: %w", c.Name, e.Code, err)
	}
	if c.Field == "*" { // a rule over several fields: any of them, or none
		return nil
	}
	if e.Field != c.Field && !strings.HasPrefix(e.Field, c.Field+"[") && !strings.HasPrefix(e.Field, c.Field+".") {
		return fmt.Errorf("%s: refused naming field %q, want %q: %w", c.Name, e.Field, c.Field, err)
	}
	return nil
}

// Case is one generated request.
type Case struct {
	Name  string         // what was changed, for failure messages
	Body  map[string]any // the request
	Valid bool           // the schema accepts it
	Field string         // the field a refusal must name; "*": any, or none (a rule over several fields)
	// Required marks a case that only leaves a required field out: the bus's decoder refuses
	// it (contracts alone cannot, since Go decodes an absent field as its zero value).
	Required bool
	// Checked are the fields with a rule the schema cannot state (x-moa-checks): Go may refuse
	// a request the schema accepts on one of them.
	Checked map[string]bool
}

// refusedByAnyOf reports whether a schema refusal includes the object's anyOf.
func refusedByAnyOf(err error) bool {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	var walk func(*jsonschema.ValidationError) bool
	walk = func(e *jsonschema.ValidationError) bool {
		if _, ok := e.ErrorKind.(*kind.AnyOf); ok && len(e.InstanceLocation) == 0 {
			return true
		}
		for _, c := range e.Causes {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(ve)
}

// requestCases generates the cases of one endpoint's request schema: file is the endpoint's
// schema file, s its compiled #/$defs/request.
func requestCases(file []byte, s *jsonschema.Schema) ([]Case, error) {
	var doc map[string]any
	if err := json.Unmarshal(file, &doc); err != nil {
		return nil, err
	}
	req := doc["$defs"].(map[string]any)["request"].(map[string]any)
	obj := deref(req, req)
	props, _ := obj["properties"].(map[string]any)
	if len(props) == 0 {
		return nil, nil
	}
	required := map[string]bool{}
	for _, r := range list(obj["required"]) {
		required[r.(string)] = true
	}
	accepts := func(body map[string]any) bool {
		if s.Validate(roundTrip(body)) != nil {
			return false
		}
		for name, v := range body {
			if str, ok := v.(string); ok {
				if max, ok := maxBytes(deref(req, props[name].(map[string]any))); ok && len(str) > max {
					return false
				}
			}
		}
		return true
	}

	// The base request: every field at its first candidate that the schema does not refuse
	// for that field, so that each later case changes one thing of a valid request.
	base := map[string]any{}
	names := sortedKeys(props)
	for _, name := range names {
		for _, v := range candidates(deref(req, props[name].(map[string]any)), true) {
			try := clone(base)
			try[name] = v
			if s.Validate(roundTrip(try)) == nil || !fieldFails(s, try, name) {
				base[name] = v
				break
			}
		}
	}
	if !accepts(base) {
		return nil, fmt.Errorf("could not generate a valid request: %s: %v", show(base), s.Validate(roundTrip(base)))
	}
	var cases []Case
	checked := map[string]bool{} // fields with a rule the schema cannot state (x-moa-checks)
	for _, c := range list(obj["x-moa-checks"]) {
		checked[c.(map[string]any)["field"].(string)] = true
	}
	add := func(name string, body map[string]any, field string) {
		c := Case{Name: name, Body: body, Valid: accepts(body), Field: field, Checked: checked}
		if !c.Valid && refusedByAnyOf(s.Validate(roundTrip(body))) {
			c.Field = "*" // the rule over several fields may be the one Go names
		}
		cases = append(cases, c)
	}
	add("base", base, "")
	for _, name := range names {
		p := deref(req, props[name].(map[string]any))
		for _, v := range append(candidates(p, true), candidates(p, false)...) {
			body := clone(base)
			body[name] = v
			add(fmt.Sprintf("%s=%s", name, show(v)), body, name)
		}
		if required[name] {
			// null is refused by the bus's required-field check, like an absent field.
			body := clone(base)
			body[name] = nil
			cases = append(cases, Case{Name: name + "=null", Body: body, Valid: accepts(body), Field: name, Required: true})
			body = clone(base)
			delete(body, name)
			cases = append(cases, Case{Name: "without " + name, Body: body, Valid: false, Field: name, Required: true})
		} else if _, ok := base[name]; ok {
			body := clone(base)
			delete(body, name)
			add("without "+name, body, anyOfField(obj, name))
		}
	}
	for _, name := range sortedKeys(mapOf(obj["dependentSchemas"])) {
		if _, ok := base[name]; !ok {
			continue
		}
		for _, d := range list(mapOf(mapOf(obj["dependentSchemas"])[name])["required"]) {
			body := clone(base)
			delete(body, d.(string))
			add(fmt.Sprintf("%s without %s", name, d), body, d.(string))
		}
	}
	if anyOf := list(obj["anyOf"]); len(anyOf) > 0 {
		body := clone(base)
		for _, branch := range anyOf {
			for _, r := range list(branch.(map[string]any)["required"]) {
				delete(body, r.(string))
			}
		}
		add("none of anyOf", body, "*")
	}
	body := clone(base)
	body["surely_not_a_field"] = true
	add("unknown field", body, "surely_not_a_field")
	return cases, nil
}

// anyOfField is the field a refusal must name when the optional field name is left out: any
// ("*") when name is one of the object's anyOf fields (a refusal is then about that rule),
// else name itself.
func anyOfField(obj map[string]any, name string) string {
	for _, branch := range list(obj["anyOf"]) {
		for _, r := range list(branch.(map[string]any)["required"]) {
			if r == name {
				return "*"
			}
		}
	}
	return name
}

// candidates are values of a property's schema: when valid is true, values meant to satisfy
// it (its example, enum values, boundaries); otherwise values meant to break one of its
// constraints. The schema decides in the end; candidates only need to reach every rule.
func candidates(p map[string]any, valid bool) []any {
	if alt := list(p["anyOf"]); len(alt) == 2 {
		p = alt[0].(map[string]any) // the value schema; null is the other branch
	}
	var out []any
	for _, e := range list(p["examples"]) {
		out = append(out, e)
	}
	if enum := list(p["enum"]); valid {
		// "" (an optional field's zero value) last, so that a base request sets the field.
		for _, e := range enum {
			if e != "" {
				out = append(out, e)
			}
		}
		if slices.Contains(enum, any("")) {
			out = append(out, "")
		}
	} else if len(enum) > 0 {
		out = append(out, "not-a-value", 1)
	}
	minLen, hasMin := num(p["minLength"])
	maxLen, hasMax := num(p["maxLength"])
	switch p["type"] {
	case "string":
		if valid {
			if hasMax {
				out = append(out, strings.Repeat("a", int(maxLen)), strings.Repeat("가", int(maxLen)))
			}
			out = append(out, strings.Repeat("a", max(int(minLen), 1)), "")
			if hasMin {
				out = append(out, strings.Repeat("a", int(minLen)))
			}
		} else {
			if hasMax {
				out = append(out, strings.Repeat("a", int(maxLen)+1), strings.Repeat("é", int(maxLen)))
			}
			if hasMin && minLen > 1 {
				out = append(out, strings.Repeat("a", int(minLen)-1))
			}
			out = append(out, "", " ", "\x01", "a\x01b", "a\tb", "a.b", "a b", "a>", "!", "not-an-email", "ftp://x.example/a",
				"https://u@x.example/a", "usd", "ZZZ", "0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a0", 7)
		}
	case "integer":
		lo, hasLo := num(p["minimum"])
		hi, hasHi := num(p["maximum"])
		if valid {
			if hasLo {
				out = append(out, lo)
			}
			if hasHi {
				out = append(out, hi)
			}
			out = append(out, 1)
		} else {
			if hasLo {
				out = append(out, lo-1)
			}
			if hasHi {
				out = append(out, hi+1)
			}
			out = append(out, "1", 1.5)
		}
	case "boolean":
		if valid {
			out = append(out, true, false)
		} else {
			out = append(out, "true")
		}
	case "array":
		items, _ := p["items"].(map[string]any)
		good, bad := candidates(items, true), candidates(items, false)
		if valid {
			out = append(out, []any{})
			if len(good) > 0 {
				out = append(out, []any{good[0]})
				if n, ok := num(p["maxItems"]); ok {
					out = append(out, repeat(good[0], int(n)))
				}
			}
		} else {
			if n, ok := num(p["maxItems"]); ok && len(good) > 0 {
				out = append(out, repeat(good[0], int(n)+1))
			}
			for _, b := range bad {
				out = append(out, []any{b})
			}
			out = append(out, "x")
		}
	}
	return out
}

func repeat(v any, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// fieldFails reports whether the schema's refusal of body is about field name.
func fieldFails(s *jsonschema.Schema, body map[string]any, name string) bool {
	err := s.Validate(roundTrip(body))
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	var about func(*jsonschema.ValidationError) bool
	about = func(e *jsonschema.ValidationError) bool {
		if len(e.InstanceLocation) > 0 && e.InstanceLocation[0] == name {
			return true
		}
		for _, c := range e.Causes {
			if about(c) {
				return true
			}
		}
		return false
	}
	return about(ve)
}

// deref follows a local $ref of the request document.
func deref(root, s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name := strings.TrimPrefix(ref, "#/$defs/")
		s = root["$defs"].(map[string]any)[name].(map[string]any)
	}
}

func maxBytes(p map[string]any) (int, bool) {
	if alt := list(p["anyOf"]); len(alt) == 2 {
		p = alt[0].(map[string]any)
	}
	n, ok := num(p["x-moa-max-bytes"])
	return int(n), ok
}

// roundTrip is v as the validator reads JSON (numbers as json.Number). v is built from JSON
// values, so it always encodes.
func roundTrip(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	return inst
}

func num(v any) (int64, bool) {
	f, ok := v.(float64)
	return int64(f), ok
}

func list(v any) []any { l, _ := v.([]any); return l }

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// show is a short form of a value for failure messages.
func show(v any) string {
	b, _ := json.Marshal(v)
	if utf8.RuneCount(b) > 80 {
		r := []rune(string(b))
		return string(r[:80]) + "…"
	}
	return string(b)
}

// ExampleUUID is the example of every UUID field (contracts' rules), which tests replace with
// a real id.
const ExampleUUID = "0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a01"

// Against sends every generated request of eps to a running service on rt, as raw JSON (as a
// client written from the schemas would send it), and reports each answer that disagrees
// with the schema. The client has no resilience: a breaker opened by answers such as
// no_responders would hide what the service says about the requests that follow. prepare, when not nil, adjusts each body before it is sent
// (replacing ExampleUUID with a real id, making an email unique). A refusal that is not about
// the request (not_found, conflict, forbidden) counts as accepted: the request got past
// validation. It returns how many requests it sent.
func Against(t testing.TB, ctx context.Context, rt *bus.Runtime, eps []contracts.EndpointInfo,
	prepare func(subject string, body map[string]any) map[string]any) int {
	t.Helper()
	cl := rt.NewClientWith("requestgen", bus.WithoutResilience())
	all, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, ep := range eps {
		cases := all[ep.Subject]
		if len(cases) == 0 {
			t.Fatalf("no generated requests for %s", ep.Subject)
		}
		for _, c := range cases {
			body := clone(c.Body)
			if prepare != nil {
				body = prepare(ep.Subject, body)
			}
			sent++
			if err := c.Check(Send(ctx, cl, ep, body), true); err != nil {
				t.Errorf("%s: %v", ep.Subject, err)
			}
		}
	}
	return sent
}

// Send sends body to ep's subject through cl (best without resilience) and returns the service's refusal of the request, or nil
// when it was accepted or refused for another reason than the request (see Against).
func Send(ctx context.Context, cl *bus.Client, info contracts.EndpointInfo, body map[string]any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ep := contracts.Endpoint[json.RawMessage, json.RawMessage]{Service: info.Service, Name: info.Name, Access: info.Access, Timeout: info.Timeout}
	_, err = bus.Call(ctx, cl, ep, json.RawMessage(raw), bus.NoRetry())
	if e := contracts.AsError(err); e != nil && e.Kind != contracts.KindInvalid {
		return nil
	}
	return err
}

// WithID replaces ExampleUUID in body's top-level strings with id.
func WithID(body map[string]any, id string) map[string]any {
	for k, v := range body {
		if s, ok := v.(string); ok && s == ExampleUUID {
			body[k] = id
		}
	}
	return body
}
