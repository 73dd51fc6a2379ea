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

// TestSDKBlogCallsArePostRoutes: the JS SDK's Blog calls exactly the post service's routed
// methods, its Log exactly the log service's and its Payout the payout service's, each once,
// so a method added to a service or renamed cannot be missed by the SDK.
func TestSDKBlogCallsArePostRoutes(t *testing.T) {
	src, err := webFiles.ReadFile("web/moa.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ class, prefix string }{{"Blog", "post."}, {"Log", "log."}, {"Payout", "payout."}} {
		i := strings.Index(string(src), "export class "+c.class+" ")
		if i < 0 {
			t.Errorf("moa.js has no %s class", c.class)
			continue
		}
		body := string(src[i:])
		// The class ends where the next top-level declaration starts.
		if j := strings.Index(body[1:], "\nexport "); j >= 0 {
			body = body[:j+1]
		}
		var got []string
		for _, m := range regexp.MustCompile(`this\.moa\.call\("([a-z_.]+)"`).FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		var want []string
		for _, r := range DefaultRoutes() {
			if strings.HasPrefix(r.Method, c.prefix) {
				want = append(want, r.Method)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s calls %v\nthe edge routes %v", c.class, got, want)
		}
	}
}

// TestBlogPageIsServed: /blog is the demo page (blog.js shows the blog there), and blog.js is
// served as a script under the page's policy.
func TestBlogPageIsServed(t *testing.T) {
	mux := http.NewServeMux()
	(&Gateway{routes: map[string]*Route{}}).routesWeb(mux)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		b, _ := io.ReadAll(w.Result().Body)
		return w.Result(), string(b)
	}
	r, body := get("/blog")
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `id="blog"`) || !strings.Contains(body, `src="static/blog.js"`) {
		t.Errorf("/blog: %d %s, want the page with the blog section and its script", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r.Header.Get("Content-Security-Policy") == "" {
		t.Error("/blog is served without the page's Content-Security-Policy")
	}
	r, body = get("/static/blog.js")
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(body, "post service") {
		t.Errorf("/static/blog.js: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r, _ := get("/blog/anything"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/blog/anything: %d, want 404 (posts are #blog/<slug>)", r.StatusCode)
	}
}
