package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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
