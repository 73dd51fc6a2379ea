// Command schemagen writes contracts/schemas from the contracts registry. It runs through
// `go generate ./contracts` (see contracts/generate.go), from the contracts directory.
//
//	schemagen [-src .] [-out schemas] [-check]
//
// With -check it writes nothing and exits 1 when the files on disk are stale.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "github.com/moa-run/moa/contracts" // the registry fills in the package's init functions
	"github.com/moa-run/moa/contracts/schemagen"
)

func main() {
	src := flag.String("src", ".", "directory of the contracts package source (doc comments become descriptions)")
	out := flag.String("out", "schemas", "directory to write the schemas to")
	check := flag.Bool("check", false, "only report whether -out is up to date")
	flag.Parse()

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
