package edge

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

// The demo page and the SDK are plain files (ES modules, no build step), embedded so that the
// edge serves them with nothing fetched from elsewhere at runtime.
//
//go:embed web
var webFiles embed.FS

// originAllowed is the WebSocket origin check. Browsers always send Origin on a WebSocket
// handshake, and a page of any site can open a WebSocket to any host: without this check a
// malicious page could talk to the edge from a visitor's browser. Requests without Origin do
// not come from browsers (native apps, tools) and are allowed.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true // the edge's own pages
	}
	norm := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, o := range g.cfg.AllowedOrigins {
		if strings.ToLower(strings.TrimSuffix(o, "/")) == norm {
			return true
		}
	}
	return false
}

// routesWeb serves the demo page, its assets and the SDK.
func (g *Gateway) routesWeb(mux *http.ServeMux) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	file := func(name, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := fs.ReadFile(sub, name)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			h := w.Header()
			h.Set("Content-Type", ctype)
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Content-Type-Options", "nosniff")
			// Everything the page needs comes from here; WebSockets go back to this host.
			h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; frame-ancestors 'none'")
			_, _ = w.Write(b)
		}
	}
	mux.HandleFunc("GET /{$}", file("index.html", "text/html; charset=utf-8"))
	// The blog is a view of the same page (static/blog.js shows it when the path is /blog).
	mux.HandleFunc("GET /blog", file("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /sdk/moa.js", file("moa.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /static/app.js", file("app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /static/i18n.js", file("i18n.js", "text/javascript; charset=utf-8")) // UI text, Korean and English
	mux.HandleFunc("GET /static/style.css", file("style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /static/blog.js", file("blog.js", "text/javascript; charset=utf-8"))     // the blog (post service)
	mux.HandleFunc("GET /static/payout.js", file("payout.js", "text/javascript; charset=utf-8")) // the seller's payouts
	mux.HandleFunc("GET /static/ops.js", file("ops.js", "text/javascript; charset=utf-8"))       // the operations page (ops.go)
	// Browsers ask for /favicon.ico by themselves; a 404 there is noise in every log.
	mux.HandleFunc("GET /favicon.ico", file("favicon.ico", "image/x-icon"))
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"mailbox_url": g.cfg.MailboxURL, "dev_mailbox": g.routes["notify.dev_mailbox"] != nil})
	})
}
