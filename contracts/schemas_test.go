package contracts_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen"
)

// TestSchemasUpToDate fails when contracts/schemas does not match the Go types: a changed
// field, a new endpoint or event, a removed one, a new error code, an edited doc comment.
func TestSchemasUpToDate(t *testing.T) {
	files, err := schemagen.Generate(schemagen.Registry("."))
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := schemagen.Diff("schemas", files)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("contracts/schemas is out of date with the Go types; run `go generate ./contracts` and commit the result:\n  %s",
			strings.Join(diffs, "\n  "))
	}
}

// compiled compiles every generated file with a draft 2020-12 validator; a schema that is not
// valid JSON Schema fails here.
func compiled(t *testing.T) (files map[string][]byte, compile func(loc string) *jsonschema.Schema) {
	t.Helper()
	files, err := schemagen.Generate(schemagen.Registry("."))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for name, b := range files {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s is not JSON: %v", name, err)
		}
		if err := c.AddResource(schemagen.BaseID+name, doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return files, func(loc string) *jsonschema.Schema {
		t.Helper()
		s, err := c.Compile(schemagen.BaseID + loc)
		if err != nil {
			t.Fatalf("compiling %s: %v", loc, err)
		}
		return s
	}
}

// validate runs v's Validate method, if it has one.
func validate(v any) error {
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

func instance(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestSchemasDescribeWhatGoSends checks every registered message against its schema with the
// values Go actually produces: the zero value of each request, response and event body (nil
// slices become null, times are RFC 3339), plus one unknown field, which requests must reject
// and responses and events must tolerate.
func TestSchemasDescribeWhatGoSends(t *testing.T) {
	_, compile := compiled(t)
	for _, d := range contracts.Endpoints() {
		ep := d.Info()
		t.Run(ep.Subject, func(t *testing.T) {
			file := schemagen.EndpointFile(ep)
			req, resp := compile(file+"#/$defs/request"), compile(file+"#/$defs/response")
			// The zero request is valid by the schema exactly when the contract's Validate
			// accepts it (most requests need a field set).
			goErr := validate(ep.Request)
			if err := req.Validate(instance(t, ep.Request)); err != nil && goErr == nil {
				t.Errorf("the zero request, which Validate accepts, is rejected by the schema: %v", err)
			} else if err == nil && goErr != nil {
				t.Errorf("the zero request, which Validate refuses (%v), is accepted by the schema", goErr)
			}
			if err := resp.Validate(instance(t, ep.Response)); err != nil {
				t.Errorf("the zero reply a Go service sends is rejected: %v", err)
			}
			if obj, ok := instance(t, ep.Request).(map[string]any); ok {
				obj["surely_not_a_field"] = true
				if req.Validate(obj) == nil {
					t.Errorf("a request with an unknown field is accepted; the runtime rejects it with unknown_field")
				}
			}
			if obj, ok := instance(t, ep.Response).(map[string]any); ok {
				obj["added_later"] = true
				if err := resp.Validate(obj); err != nil {
					t.Errorf("a reply with an added field is rejected, so adding a reply field would break clients: %v", err)
				}
			}
		})
	}
	for _, ev := range contracts.Events() {
		t.Run(ev.Type, func(t *testing.T) {
			s := compile(schemagen.EventFile(ev))
			data, _ := json.Marshal(ev.Data)
			env := contracts.Envelope{ID: "0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a01", Type: ev.Type, Source: "test", Key: "k-1",
				OccurredAt: time.Now().UTC(), SchemaVersion: ev.Version, Data: data}
			if err := s.Validate(instance(t, env)); err != nil {
				t.Errorf("the envelope Go emits is rejected: %v", err)
			}
			wrong := env
			wrong.Type = ev.Type + "_other"
			if s.Validate(instance(t, wrong)) == nil {
				t.Errorf("an envelope of another type is accepted")
			}
			badKey := env
			badKey.Key = "a.b"
			if s.Validate(instance(t, badKey)) == nil {
				t.Errorf("a key with a '.' is accepted; contracts.Token rejects it")
			}
		})
	}
}

// TestErrorsSchema checks errors.json against the catalogue and the wire form of an error.
func TestErrorsSchema(t *testing.T) {
	files, compile := compiled(t)
	s := compile("errors.json")
	if err := s.Validate(instance(t, contracts.ErrValidation.OnField("email", "email is required"))); err != nil {
		t.Errorf("an error reply body is rejected: %v", err)
	}
	if s.Validate(instance(t, map[string]any{"code": "x", "kind": "catastrophic", "message": "m"})) == nil {
		t.Errorf("an unknown kind is accepted")
	}
	var doc struct {
		Errors []struct {
			Code      string `json:"code"`
			Kind      string `json:"kind"`
			Retryable bool   `json:"retryable"`
		} `json:"x-moa-errors"`
	}
	if err := json.Unmarshal(files["errors.json"], &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Errors) != len(contracts.Catalogue()) {
		t.Fatalf("errors.json lists %d codes, the catalogue has %d", len(doc.Errors), len(contracts.Catalogue()))
	}
	for _, e := range doc.Errors {
		known := contracts.Lookup(e.Code)
		if known == nil || string(known.Kind) != e.Kind || known.Retryable() != e.Retryable {
			t.Errorf("errors.json entry %+v does not match the catalogue entry %+v", e, known)
		}
	}
}

// TestEveryDeclarationIsRegistered reads the contracts source and checks that every
// package-level Endpoint and Event literal is in the registry: an unregistered one would have
// no schema, so no non-Go service could use it.
func TestEveryDeclarationIsRegistered(t *testing.T) {
	declared := declarations(t)
	if len(declared) == 0 {
		t.Fatal("found no Endpoint or Event declarations in the contracts source")
	}
	registered := map[string]bool{}
	for _, d := range contracts.Endpoints() {
		registered[d.Info().Subject] = true
	}
	for _, e := range contracts.Events() {
		registered[e.Type] = true
	}
	var missing []string
	for key, decl := range declared {
		if !registered[key] {
			missing = append(missing, decl+" ("+key+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("declared but not registered; add them to the file's `func init() { register(...) }`:\n  %s", strings.Join(missing, "\n  "))
	}
}

// declarations maps the subject (endpoints) or type (events) of every Endpoint and Event
// literal in the package's source to "file: Var". Only literal strings are understood, which is
// how contracts declares them.
func declarations(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	type lit struct {
		file, name string
		cl         *ast.CompositeLit
	}
	var lits []lit
	services := map[string]contracts.Service{}
	for _, f := range files {
		file := fset.Position(f.Pos()).Filename
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, v := range vs.Values {
					cl, ok := v.(*ast.CompositeLit)
					if !ok || i >= len(vs.Names) {
						continue
					}
					if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "Service" {
						services[vs.Names[i].Name] = contracts.Service{Name: field(cl, "Name"), Major: atoi(field(cl, "Major"))}
						continue
					}
					lits = append(lits, lit{file: file, name: vs.Names[i].Name, cl: cl})
				}
			}
		}
	}
	out := map[string]string{}
	for _, l := range lits {
		var generic string
		switch ty := l.cl.Type.(type) {
		case *ast.IndexListExpr:
			if id, ok := ty.X.(*ast.Ident); ok {
				generic = id.Name
			}
		case *ast.IndexExpr:
			if id, ok := ty.X.(*ast.Ident); ok {
				generic = id.Name
			}
		}
		where := l.file + ": " + l.name
		switch generic {
		case "Endpoint":
			svc, ok := services[field(l.cl, "Service")]
			if !ok {
				t.Fatalf("%s: cannot resolve its Service", where)
			}
			out[svc.Prefix()+"."+field(l.cl, "Name")] = where
		case "Event":
			out[field(l.cl, "Domain")+"."+field(l.cl, "Name")] = where
		}
	}
	return out
}

// field returns the source of a keyed field of a composite literal, unquoted if it is a string.
func field(cl *ast.CompositeLit, key string) string {
	for _, e := range cl.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != key {
			continue
		}
		switch v := kv.Value.(type) {
		case *ast.BasicLit:
			if s, err := strconv.Unquote(v.Value); err == nil {
				return s
			}
			return v.Value
		case *ast.Ident:
			return v.Name
		}
	}
	return ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// The registry hands out copies: a caller cannot change what the next caller sees.
func TestRegistryIsSortedAndStable(t *testing.T) {
	eps := contracts.Endpoints()
	for i := 1; i < len(eps); i++ {
		if eps[i-1].Info().Subject >= eps[i].Info().Subject {
			t.Fatalf("endpoints not sorted by subject: %s before %s", eps[i-1].Info().Subject, eps[i].Info().Subject)
		}
	}
	evs := contracts.Events()
	for i := 1; i < len(evs); i++ {
		if evs[i-1].Type >= evs[i].Type {
			t.Fatalf("events not sorted by type: %s before %s", evs[i-1].Type, evs[i].Type)
		}
	}
	if len(evs) > 0 {
		evs[0].Type = "mutated"
		if reflect.DeepEqual(contracts.Events()[0].Type, "mutated") {
			t.Fatal("Events returned the registry's own storage")
		}
	}
}
