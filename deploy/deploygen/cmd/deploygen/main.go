// Command deploygen writes the generated deployment files (see package deploygen):
//
//	go run ./deploy/deploygen/cmd/deploygen -root .
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/moa-run/moa/deploy/deploygen"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	flag.Parse()
	files, err := deploygen.Generate(*root)
	if err == nil {
		err = deploygen.Write(*root, files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploygen:", err)
		os.Exit(1)
	}
}
