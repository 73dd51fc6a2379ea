package e2etest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// sessionCall is one POST to the edge's session endpoints with the refresh cookie (if any) and
// extra headers; it returns the status, the cookie the edge set (nil: none) and the body.
type sessionAnswer struct {
	status int
	cookie *http.Cookie
	body   struct {
		AccessToken  string           `json:"access_token"`
		RefreshToken string           `json:"refresh_token"`
		User         contracts.User   `json:"user"`
		Error        *contracts.Error `json:"error"`
	}
	raw string
}

func sessionPost(t *testing.T, base, op string, cookie string, body any, header map[string]string) sessionAnswer {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, base+"/session/"+op, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(edge.SessionHeader, "1")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: edge.SessionCookie, Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a sessionAnswer
	a.status = resp.StatusCode
	for _, c := range resp.Cookies() {
		if c.Name == edge.SessionCookie {
			a.cookie = c
		}
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	a.raw = buf.String()
	_ = json.Unmarshal(buf.Bytes(), &a.body)
	return a
}

// signUpOverWS creates an account through the edge's WebSocket, as the page does.
func signUpOverWS(t *testing.T, base, email string) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws, answer: map[string]chan frame{}, more: make(chan struct{}, 1)}
	t.Cleanup(func() { _ = ws.Close() })
	go c.read()
	if f := c.send(map[string]any{"type": "auth", "anonymous": true}); f.Type != "ok" {
		t.Fatalf("auth: %+v", f.Error)
	}
	c.call("auth.signup", map[string]any{"email": email, "password": "correct horse battery", "role": "consumer", "display_name": "Cleo"}, nil)
}

// TestSessionCookieEndpoints: the browser session's endpoints against the real auth service.
func TestSessionCookieEndpoints(t *testing.T) {
	base := bootMarket(t, "auth")
	signUpOverWS(t, base, "cookie@example.test")
	login := map[string]string{"email": "cookie@example.test", "password": "correct horse battery"}

	// Login sets the cookie with its attributes and never shows the refresh token.
	a := sessionPost(t, base, "login", "", login, nil)
	if a.status != http.StatusOK || a.body.AccessToken == "" || a.body.User.Email != "cookie@example.test" {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	if a.body.RefreshToken != "" || strings.Contains(a.raw, "refresh_token") {
		t.Fatalf("login answer shows the refresh token: %s", a.raw)
	}
	c1 := a.cookie
	if c1 == nil || c1.Value == "" || !c1.HttpOnly || c1.SameSite != http.SameSiteStrictMode || c1.Path != "/session" || c1.MaxAge <= 0 {
		t.Fatalf("login cookie: %+v", c1)
	}
	if c1.Secure {
		t.Fatalf("cookie is Secure over plain HTTP (the browser would drop it): %+v", c1)
	}
	// Behind a TLS-terminating proxy the cookie is Secure.
	if s := sessionPost(t, base, "login", "", login, map[string]string{"X-Forwarded-Proto": "https"}); s.cookie == nil || !s.cookie.Secure {
		t.Fatalf("login behind TLS: %d %+v", s.status, s.cookie)
	}

	// Refresh rotates the cookie and returns a new access token.
	r := sessionPost(t, base, "refresh", c1.Value, nil, nil)
	if r.status != http.StatusOK || r.body.AccessToken == "" || r.cookie == nil || r.cookie.Value == c1.Value || r.body.User.Email != "cookie@example.test" {
		t.Fatalf("refresh: %d %+v %s", r.status, r.cookie, r.raw)
	}
	c2 := r.cookie

	// The spent cookie again is reuse: refused, cleared, and the whole session is revoked.
	re := sessionPost(t, base, "refresh", c1.Value, nil, nil)
	if re.status != http.StatusUnauthorized || re.body.Error == nil || re.body.Error.Code != contracts.ErrTokenReused.Code {
		t.Fatalf("reuse: %d %s", re.status, re.raw)
	}
	if re.cookie == nil || re.cookie.MaxAge >= 0 || re.cookie.Value != "" {
		t.Fatalf("reuse left the cookie: %+v", re.cookie)
	}
	if after := sessionPost(t, base, "refresh", c2.Value, nil, nil); after.status != http.StatusUnauthorized {
		t.Fatalf("the successor of a reused token still works: %d %s", after.status, after.raw)
	}

	// No cookie: not signed in.
	if n := sessionPost(t, base, "refresh", "", nil, nil); n.status != http.StatusUnauthorized || n.body.Error == nil || n.body.Error.Code != contracts.ErrUnauthenticated.Code {
		t.Fatalf("refresh without cookie: %d %s", n.status, n.raw)
	}

	// Sign-out clears the cookie and revokes the session: its latest token no longer refreshes.
	l := sessionPost(t, base, "login", "", login, nil)
	r2 := sessionPost(t, base, "refresh", l.cookie.Value, nil, nil)
	out := sessionPost(t, base, "logout", r2.cookie.Value, nil, nil)
	if out.status != http.StatusOK || out.cookie == nil || out.cookie.MaxAge >= 0 || out.cookie.Path != "/session" || !out.cookie.HttpOnly {
		t.Fatalf("logout: %d %+v %s", out.status, out.cookie, out.raw)
	}
	if x := sessionPost(t, base, "refresh", r2.cookie.Value, nil, nil); x.status != http.StatusUnauthorized || x.body.Error == nil || x.body.Error.Code != contracts.ErrTokenInvalid.Code {
		t.Fatalf("refresh after logout: %d %s", x.status, x.raw)
	}
	// Signing in over an existing session replaces it: the old cookie's session is revoked,
	// not left valid with no browser holding it to sign it out.
	first := sessionPost(t, base, "login", "", login, nil)
	second := sessionPost(t, base, "login", first.cookie.Value, login, nil)
	if second.status != http.StatusOK || second.cookie == nil || second.cookie.Value == first.cookie.Value {
		t.Fatalf("login over a session: %d %+v %s", second.status, second.cookie, second.raw)
	}
	if x := sessionPost(t, base, "refresh", first.cookie.Value, nil, nil); x.status != http.StatusUnauthorized || x.body.Error == nil || x.body.Error.Code != contracts.ErrTokenInvalid.Code {
		t.Fatalf("refresh of the replaced session: %d %s", x.status, x.raw)
	}
	if y := sessionPost(t, base, "refresh", second.cookie.Value, nil, nil); y.status != http.StatusOK {
		t.Fatalf("refresh of the new session: %d %s", y.status, y.raw)
	}
	// A login with a cookie that is no session (ended, forged) still signs in.
	if z := sessionPost(t, base, "login", "not-a-token", login, nil); z.status != http.StatusOK || z.cookie == nil {
		t.Fatalf("login with a stale cookie: %d %s", z.status, z.raw)
	}
	// Signing out again (or without a cookie) is harmless.
	if again := sessionPost(t, base, "logout", r2.cookie.Value, nil, nil); again.status != http.StatusOK {
		t.Fatalf("second logout: %d %s", again.status, again.raw)
	}

	// Wrong password: refused, no cookie.
	if w := sessionPost(t, base, "login", "", map[string]string{"email": "cookie@example.test", "password": "wrong horse battery"}, nil); w.status != http.StatusUnauthorized || w.cookie != nil {
		t.Fatalf("wrong password: %d %+v %s", w.status, w.cookie, w.raw)
	}
	// Unknown fields are refused (the body is a login, nothing else).
	if u := sessionPost(t, base, "login", "", map[string]string{"email": "cookie@example.test", "password": "correct horse battery", "client_addr": "1.2.3.4"}, nil); u.status != http.StatusBadRequest {
		t.Fatalf("login naming its own client_addr: %d %s", u.status, u.raw)
	}
}

// TestSessionRefusesCrossSite: a page of another site cannot use the session (CSRF), and a
// refused call touches nothing: the cookie still refreshes afterwards.
func TestSessionRefusesCrossSite(t *testing.T) {
	base := bootMarket(t, "auth")
	signUpOverWS(t, base, "csrf@example.test")
	l := sessionPost(t, base, "login", "", map[string]string{"email": "csrf@example.test", "password": "correct horse battery"}, nil)
	if l.status != http.StatusOK {
		t.Fatalf("login: %d %s", l.status, l.raw)
	}
	cookie := l.cookie.Value
	for name, h := range map[string]map[string]string{
		"other origin":          {"Origin": "https://evil.example"},
		"cross-site fetch":      {"Sec-Fetch-Site": "cross-site"},
		"no custom header":      {edge.SessionHeader: ""},
		"form post, no header":  {edge.SessionHeader: "", "Content-Type": "application/x-www-form-urlencoded"},
		"null origin (sandbox)": {"Origin": "null"},
	} {
		for _, op := range []string{"refresh", "logout", "login"} {
			a := sessionPost(t, base, op, cookie, nil, h)
			if a.status != http.StatusForbidden || a.cookie != nil {
				t.Errorf("%s %s: %d %+v %s", name, op, a.status, a.cookie, a.raw)
			}
		}
	}
	// The page's own origin is fine, and the session survived the attempts.
	own := sessionPost(t, base, "refresh", cookie, nil, map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"})
	if own.status != http.StatusOK || own.cookie == nil {
		t.Fatalf("same-origin refresh: %d %s", own.status, own.raw)
	}
	// GET is not a session call (a link or an <img> cannot trigger one).
	resp, err := http.Get(base + "/session/logout")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET logout: %d", resp.StatusCode)
	}
}

// TestSessionCookieUnderPrefix: an edge mounted under a prefix scopes the cookie to its own
// session endpoints, as the browser addresses them.
func TestSessionCookieUnderPrefix(t *testing.T) {
	base := serveAuthEdge(t, edge.Config{}, "/shop")
	signUpOverWS(t, base, "prefix@example.test")
	a := sessionPost(t, base, "login", "", map[string]string{"email": "prefix@example.test", "password": "correct horse battery"}, nil)
	if a.status != http.StatusOK || a.cookie == nil || a.cookie.Path != "/shop/session" {
		t.Fatalf("login under /shop: %d %+v %s", a.status, a.cookie, a.raw)
	}
	if r := sessionPost(t, base, "refresh", a.cookie.Value, nil, nil); r.status != http.StatusOK || r.cookie == nil || r.cookie.Path != "/shop/session" {
		t.Fatalf("refresh under /shop: %d %+v %s", r.status, r.cookie, r.raw)
	}
}

// serveAuthEdge serves an edge over the auth service alone, mounted under prefix ("" for the
// root) by http.StripPrefix, and returns its base URL.
func serveAuthEdge(t *testing.T, cfg edge.Config, prefix string) string {
	t.Helper()
	auth, _ := system.Lookup("auth")
	sys := systemtest.Boot(t, systemtest.Configure(func(c *system.Config) {
		c.Registry = map[string]system.Registration{"auth": auth}
		c.Services = nil
	}))
	gw := edge.New(sys.Runtime(), cfg)
	var h http.Handler = gw
	if prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(prefix+"/", http.StripPrefix(prefix, gw))
		h = mux
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		srv.Close()
	})
	return srv.URL + prefix
}

// TestSessionCookiePathBehindRewritingProxy: a proxy that serves the edge's root as /shop/
// (rewriting the path on the way) hides the browser's path from the edge; the configured
// SessionCookiePath is what the cookie carries.
func TestSessionCookiePathBehindRewritingProxy(t *testing.T) {
	base := serveAuthEdge(t, edge.Config{SessionCookiePath: "/shop/session"}, "")
	signUpOverWS(t, base, "proxy@example.test")
	a := sessionPost(t, base, "login", "", map[string]string{"email": "proxy@example.test", "password": "correct horse battery"}, nil)
	if a.status != http.StatusOK || a.cookie == nil || a.cookie.Path != "/shop/session" {
		t.Fatalf("login: %d %+v %s", a.status, a.cookie, a.raw)
	}
	if out := sessionPost(t, base, "logout", a.cookie.Value, nil, nil); out.status != http.StatusOK || out.cookie == nil || out.cookie.Path != "/shop/session" || out.cookie.MaxAge >= 0 {
		t.Fatalf("logout must clear the cookie at its own path: %d %+v %s", out.status, out.cookie, out.raw)
	}
}

// TestSessionIsSameOriginOnly: an origin allowed to open the WebSocket still may not use the
// session endpoints (no CORS preflight is answered, the cookie is SameSite=Strict): it is
// refused plainly instead of half working.
func TestSessionIsSameOriginOnly(t *testing.T) {
	base := serveAuthEdge(t, edge.Config{AllowedOrigins: []string{"https://shop.example.com"}}, "")
	signUpOverWS(t, base, "origin@example.test")
	a := sessionPost(t, base, "login", "", map[string]string{"email": "origin@example.test", "password": "correct horse battery"},
		map[string]string{"Origin": "https://shop.example.com"})
	if a.status != http.StatusForbidden || a.cookie != nil || a.body.Error == nil || a.body.Error.Code != contracts.ErrOriginForbidden.Code {
		t.Fatalf("login from an allowed WebSocket origin: %d %+v %s", a.status, a.cookie, a.raw)
	}
	if own := sessionPost(t, base, "login", "", map[string]string{"email": "origin@example.test", "password": "correct horse battery"},
		map[string]string{"Origin": base}); own.status != http.StatusOK {
		t.Fatalf("login from the edge's own origin: %d %s", own.status, own.raw)
	}
}
