// Package services_test guards the layering rule every service follows (issue 11):
//
//   - domain/ and app/ never name a wire DTO. Inbound DTOs (endpoint requests) are mapped to
//     domain or app types in ports/; outbound ones (responses, events written to the outbox,
//     calls to other services) are built in ports/ or adapters/. The wire shape can then change
//     without touching the rules, and the rules cannot leak a field onto the wire by accident.
//   - contracts vocabulary (errors, roles, Principal, validators, normalisers, limits, enum
//     constants and their named string types) stays allowed everywhere: it is what services
//     share on purpose.
//   - a service never imports another service: contracts/ is the only thing they share.
//
// The DTO set is computed from the contracts registry rather than listed by hand, so a new
// endpoint or event is covered the day it is registered.
package services_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
)

const (
	contractsPath = "github.com/moa-run/moa/contracts"
	servicesPath  = "github.com/moa-run/moa/services/"
)

// dtoTypes returns the names of the wire DTO types: every struct type declared in package
// contracts that is reachable from an endpoint's request or response or an event's data,
// through struct fields, slices, arrays, pointers and maps. Named non-struct types (string
// enums such as contracts.SubscriptionState) are vocabulary and are walked through, not
// collected.
func dtoTypes() map[string]bool {
	pkg := reflect.TypeOf(contracts.Empty{}).PkgPath()
	set := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
		case reflect.Struct:
			if t.PkgPath() == pkg && t.Name() != "" {
				set[t.Name()] = true
			}
			for i := 0; i < t.NumField(); i++ {
				walk(t.Field(i).Type)
			}
		}
	}
	for _, d := range contracts.Endpoints() {
		info := d.Info()
		walk(reflect.TypeOf(info.Request))
		walk(reflect.TypeOf(info.Response))
	}
	for _, e := range contracts.Events() {
		walk(reflect.TypeOf(e.Data))
	}
	return set
}

func TestDTOTypesSet(t *testing.T) {
	set := dtoTypes()
	// A few known members, so a broken walk (an empty set passes everything) fails here.
	for _, name := range []string{"LoginRequest", "ProductPage", "ProductSummary", "PaymentData", "Empty"} {
		if !set[name] {
			t.Errorf("DTO set misses contracts.%s", name)
		}
	}
	// Vocabulary must not be collected.
	for _, name := range []string{"SubscriptionState", "BillingPeriod", "Role", "Error", "Principal"} {
		if set[name] {
			t.Errorf("DTO set holds vocabulary contracts.%s", name)
		}
	}
}

// goFiles parses every .go file under dir (recursively), test files included when tests is
// true, and calls fn with each.
func goFiles(t *testing.T, fset *token.FileSet, dir string, tests bool, fn func(path string, f *ast.File)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		if !tests && strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		fn(path, f)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("walk %s: %v", dir, err)
	}
}

// serviceDirs returns the service directory names under services/.
func serviceDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no service directories found")
	}
	return out
}

// TestDomainAndAppNameNoDTO fails listing file:line for every contracts.X in a service's
// domain/ or app/ (non-test files) where X is a wire DTO type.
func TestDomainAndAppNameNoDTO(t *testing.T) {
	dtos := dtoTypes()
	fset := token.NewFileSet()
	var bad []string
	for _, svc := range serviceDirs(t) {
		for _, layer := range []string{"domain", "app"} {
			goFiles(t, fset, filepath.Join(svc, layer), false, func(path string, f *ast.File) {
				local := contractsName(f)
				if local == "" {
					return
				}
				if local == "." {
					bad = append(bad, fmt.Sprintf("%s: dot-imports contracts; import it by name", path))
					return
				}
				ast.Inspect(f, func(n ast.Node) bool {
					sel, ok := n.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					id, ok := sel.X.(*ast.Ident)
					if ok && id.Name == local && dtos[sel.Sel.Name] {
						bad = append(bad, fmt.Sprintf("%s: contracts.%s", fset.Position(sel.Pos()), sel.Sel.Name))
					}
					return true
				})
			})
		}
	}
	if len(bad) > 0 {
		t.Errorf("domain/ and app/ name wire DTOs (map them in ports/ or adapters/):\n  %s", strings.Join(bad, "\n  "))
	}
}

// contractsName returns the name f refers to package contracts by, or "" if f does not import
// it. An import renamed to _ counts as not importing it.
func contractsName(f *ast.File) string {
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p != contractsPath {
			continue
		}
		if imp.Name == nil {
			return "contracts"
		}
		if imp.Name.Name == "_" {
			return ""
		}
		return imp.Name.Name
	}
	return ""
}

// TestServicesImportNoOtherService fails if any file of one service, tests included, imports
// a package of another service.
func TestServicesImportNoOtherService(t *testing.T) {
	fset := token.NewFileSet()
	var bad []string
	for _, svc := range serviceDirs(t) {
		goFiles(t, fset, svc, true, func(path string, f *ast.File) {
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				rest, ok := strings.CutPrefix(p, servicesPath)
				if !ok {
					continue
				}
				other, _, _ := strings.Cut(rest, "/")
				if other != svc {
					bad = append(bad, fmt.Sprintf("%s: imports %s", fset.Position(imp.Pos()), p))
				}
			}
		})
	}
	if len(bad) > 0 {
		t.Errorf("a service imports another service (share through contracts/ only):\n  %s", strings.Join(bad, "\n  "))
	}
}

// The hexagon's sides meet only in the composition root: ports (endpoints, consumers) drive
// app, adapters implement app's interfaces, and Start wires one to the other. Neither domain
// nor app nor ports may import adapters, and domain imports nothing of its service.
func TestLayersImportInward(t *testing.T) {
	forbidden := map[string][]string{ // layer → the service's layers it must not import
		"domain": {"app", "adapters", "ports"},
		"app":    {"adapters", "ports"},
		"ports":  {"adapters"},
	}
	fset := token.NewFileSet()
	var bad []string
	for _, svc := range serviceDirs(t) {
		for layer, never := range forbidden {
			goFiles(t, fset, filepath.Join(svc, layer), false, func(path string, f *ast.File) {
				for _, imp := range f.Imports {
					p, _ := strconv.Unquote(imp.Path.Value)
					for _, n := range never {
						if p == servicesPath+svc+"/"+n || strings.HasPrefix(p, servicesPath+svc+"/"+n+"/") {
							bad = append(bad, fmt.Sprintf("%s: %s imports %s", fset.Position(imp.Pos()), layer, p))
						}
					}
				}
			})
		}
	}
	if len(bad) > 0 {
		t.Errorf("a layer imports outward (wire the sides together in the service's Start):\n  %s", strings.Join(bad, "\n  "))
	}
}
