// Command moa runs Moa: `moa dev` runs everything in one process, `moa serve SERVICE...` runs
// chosen services against external infrastructure. `moa help` lists every flag and variable.
package main

import (
	"context"
	"os"

	"github.com/moa-run/moa/cmd/moa/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
