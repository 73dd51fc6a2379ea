// Command schemagen writes contracts/schemas from the contracts registry, and the call policy
// table of docs/protocol.md (-doc) from the endpoints' Access declarations. It runs through
// `go generate ./contracts` (see contracts/generate.go), from the contracts directory.
//
//	schemagen [-src .] [-out schemas] [-doc ../docs/protocol.md] [-check]
//
// With -check it writes nothing and exits 1 when the files on disk are stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	_ "github.com/moa-run/moa/contracts" // the registry fills in the package's init functions
	"github.com/moa-run/moa/contracts/schemagen"
)

func main() {
	src := flag.String("src", ".", "directory of the contracts package source (doc comments become descriptions)")
	out := flag.String("out", "schemas", "directory to write the schemas to")
	doc := flag.String("doc", "", "Markdown file whose generated policy table to rewrite (e.g. ../docs/protocol.md)")
	check := flag.Bool("check", false, "only report whether -out and -doc are up to date")
	flag.Parse()

	if *doc != "" {
		if err := policy(*doc, *check); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}

	files, err := schemagen.Generate(schemagen.Registry(*src))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *check {
		diffs, err := schemagen.Diff(*out, files)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, d := range diffs {
			fmt.Fprintln(os.Stderr, d)
		}
		if len(diffs) > 0 {
			os.Exit(1)
		}
		return
	}
	if err := schemagen.Write(*out, files); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("schemagen: %d files in %s\n", len(files), *out)
}

// policy rewrites (or, with check, only compares) the generated policy table of doc.
func policy(doc string, check bool) error {
	old, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	b, err := schemagen.SplicePolicy(old, schemagen.RegistryPolicy())
	if err != nil {
		return err
	}
	if bytes.Equal(b, old) {
		return nil
	}
	if check {
		return fmt.Errorf("schemagen: the policy table of %s is stale", doc)
	}
	return os.WriteFile(doc, b, 0o644)
}
