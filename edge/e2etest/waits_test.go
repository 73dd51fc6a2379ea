package e2etest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBrowserWaitsTestPresenceWithNull audits every browser wait in this package: a wait for an
// element written as `!== undefined` is true at once when querySelector answers null, and the
// click after it fails ("Cannot read properties of null"). Presence is `!= null`, or better
// clickWhenPresent, which waits and clicks in one evaluation.
func TestBrowserWaitsTestPresenceWithNull(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	strict := regexp.MustCompile(`[!=]== *undefined\b|\bundefined *[!=]==`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") || strings.Contains(line, "regexp.MustCompile") {
				continue
			}
			if strict.MatchString(line) {
				t.Errorf("%s:%d: a wait compared with undefined is true at once when querySelector answers null; use `!= null` or clickWhenPresent:\n%s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
