package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sdkClass is moa.js's class that starts at i: up to the next top-level export, so that a
// class appended after it is not taken for a part of it.
func sdkClass(src []byte, i int) string {
	s := string(src[i:])
	if j := strings.Index(s[1:], "\nexport "); j >= 0 {
		return s[:j+1]
	}
	return s
}

// TestSDKPayoutCallsArePayoutRoutes: the JS SDK's Payout calls exactly the payout service's
// routed methods, each once, so a payout method added or renamed cannot be missed by the SDK
// (the operator's rebuild is not routed, and so not in the SDK).
func TestSDKPayoutCallsArePayoutRoutes(t *testing.T) {
	src, err := webFiles.ReadFile("web/moa.js")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(src), "export class Payout")
	if i < 0 {
		t.Fatal("moa.js has no Payout class")
	}
	var got []string
	for _, m := range regexp.MustCompile(`this\.moa\.call\("([a-z_.]+)"`).FindAllStringSubmatch(sdkClass(src, i), -1) {
		got = append(got, m[1])
	}
	var want []string
	for _, r := range DefaultRoutes() {
		if strings.HasPrefix(r.Method, "payout.") {
			want = append(want, r.Method)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("Payout calls %v\nthe edge routes %v", got, want)
	}
}

// TestPayoutScriptIsServed: app.js imports payout.js, so the edge must serve it as a script.
func TestPayoutScriptIsServed(t *testing.T) {
	mux := http.NewServeMux()
	(&Gateway{routes: map[string]*Route{}}).routesWeb(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/static/payout.js", nil))
	b, _ := io.ReadAll(w.Result().Body)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") || !strings.Contains(string(b), "export function showPayouts") {
		t.Errorf("/static/payout.js: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	app, err := webFiles.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(app), `from "./payout.js"`) {
		t.Error("app.js does not import payout.js")
	}
}
