package deploy_test

import (
	"strings"
	"testing"

	"github.com/moa-run/moa/deploy/deploygen"
)

// The NATS users, the PostgreSQL roles and the compose service blocks are generated from the
// service registry and the contracts; a hand edit, or a declaration changed without
// regenerating, fails here.
func TestGeneratedDeployFilesUpToDate(t *testing.T) {
	files, err := deploygen.Generate("..")
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := deploygen.Diff("..", files)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("generated deployment files are stale; run `go generate ./deploy` and commit the result:\n  %s",
			strings.Join(diffs, "\n  "))
	}
}
