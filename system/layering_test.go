package system

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Adding a service takes its contracts, its folder and one line in the registry: what the
// system and the deployment generator know about a service is its package's Registration,
// named in services.go and nowhere else. A file here (or in deploy/deploygen) that imports a
// service's ports or adapters, or a service package outside services.go, is a hand-kept
// per-service table coming back.
func TestOnlyTheRegistryNamesServices(t *testing.T) {
	const services = "github.com/moa-run/moa/services/"
	var checked int
	for _, dir := range []string{".", filepath.Join("..", "deploy", "deploygen")} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			checked++
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				rest, ok := strings.CutPrefix(p, services)
				if !ok {
					continue
				}
				switch {
				case strings.Contains(rest, "/"):
					t.Errorf("%s imports %s: declare what the system needs of it in the service's Registration", path, p)
				case filepath.Clean(path) != "services.go":
					t.Errorf("%s imports %s: only the registry (services.go) names a service", path, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files: the walk missed the sources", checked)
	}
}
