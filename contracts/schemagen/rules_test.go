package schemagen_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen"
)

type ruledRequest struct {
	Name  string                `json:"name"`
	Kind  contracts.ProductSort `json:"kind,omitempty"`
	Count *int                  `json:"count,omitempty"`
	Tags  []string              `json:"tags,omitempty"`
	Up    uint64                `json:"up,omitempty"`
}

func (ruledRequest) Rules() contracts.Rules {
	one, ten := int64(1), int64(10)
	return contracts.Rules{
		Fields: map[string]contracts.Rule{
			"name":  {MinLength: 1, MaxLength: 5, MaxBytes: 8, Pattern: contracts.PatternLine},
			"count": {Min: &one, Max: &ten},
			"tags":  {MaxItems: 2, Items: &contracts.Rule{Enum: []string{"a", "b"}}},
		},
		DependentRequired: map[string][]string{"count": {"name"}},
		AnyOfRequired:     []string{"count", "up"},
		Checks:            []contracts.Check{{Field: "name", Rule: "unique"}},
	}
}

type badRuleRequest struct {
	Name string `json:"name"`
}

func (badRuleRequest) Rules() contracts.Rules {
	return contracts.Rules{Fields: map[string]contracts.Rule{"nmae": {MaxLength: 3}}}
}

// TestRulesBecomeKeywords checks each kind of rule against instances, and that a rule naming
// no field fails generation instead of stating nothing.
func TestRulesBecomeKeywords(t *testing.T) {
	ep := contracts.Endpoint[ruledRequest, contracts.Empty]{Service: orderSvc, Name: "ruled"}
	files, err := schemagen.Generate(schemagen.Input{Endpoints: []contracts.EndpointInfo{ep.Info()}})
	if err != nil {
		t.Fatal(err)
	}
	c := compilerFor(t, files)
	s, err := c.Compile(schemagen.BaseID + "schemaorder.v1.ruled.json#/$defs/request")
	if err != nil {
		t.Fatal(err)
	}
	for body, valid := range map[string]bool{
		`{"name":"abc","count":3}`:                   true,
		`{"name":"abc","up":2,"kind":"popular"}`:     true,
		`{"name":"abc","up":2,"tags":["a","b"]}`:     true,
		`{"name":"abc"}`:                             false, // anyOf: count or up
		`{"name":"abc","up":0}`:                      false, // up 0 is absent to Go
		`{"name":"abc","count":null}`:                false, // null is absent to Go
		`{"name":"abcdef","count":3}`:                false, // maxLength
		`{"name":"","count":3}`:                      false, // minLength
		`{"name":"a\u0001","count":3}`:               false, // pattern
		`{"name":"abc","count":11}`:                  false, // maximum
		`{"name":"abc","count":0}`:                   false, // minimum
		`{"name":"abc","up":1,"kind":"oldest"}`:      false, // enum of the named type
		`{"name":"abc","up":1,"tags":["a","b","a"]}`: false, // maxItems
		`{"name":"abc","up":1,"tags":["c"]}`:         false, // items' enum
	} {
		if err := s.Validate(parse(t, body)); (err == nil) != valid {
			t.Errorf("%s: valid %v, want %v (%v)", body, err == nil, valid, err)
		}
	}
	for _, want := range []string{`"x-moa-max-bytes": 8`, `"x-moa-checks"`, `"dependentSchemas"`} {
		if !strings.Contains(string(files["schemaorder.v1.ruled.json"]), want) {
			t.Errorf("the schema lacks %s", want)
		}
	}

	bad := contracts.Endpoint[badRuleRequest, contracts.Empty]{Service: orderSvc, Name: "bad"}
	if _, err := schemagen.Generate(schemagen.Input{Endpoints: []contracts.EndpointInfo{bad.Info()}}); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("a rule naming no field: %v, want an error naming it", err)
	}
}

func compilerFor(t *testing.T, files map[string][]byte) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	for name, b := range files {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource(schemagen.BaseID+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
