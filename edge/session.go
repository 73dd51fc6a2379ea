package edge

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// The browser session: pages served by the edge keep the refresh token in a cookie, so that
// every tab of one browser shares one session and the token never reaches JavaScript (an XSS
// cannot steal it). Access tokens stay in each tab's memory and go over the WebSocket as
// before. Three endpoints, all POST:
//
//	session/login    {email, password} → the access token and user; sets the cookie
//	session/refresh  → a new access token; rotates the cookie (auth's reuse detection applies)
//	session/logout   → revokes the session (the whole refresh-token family); clears the cookie
//
// The cookie is HttpOnly, SameSite=Strict, Secure when the page came over TLS, and its Path is
// the session/ directory (Config.SessionCookiePath behind a proxy that rewrites paths), so it is sent to nothing else (not to /ws, not to other apps on the
// host). Cross-site use (CSRF) is refused three ways: SameSite=Strict keeps the browser from
// sending the cookie from another site; every call must carry the X-Moa-Session header, which
// a page of another origin cannot add without a CORS preflight the edge never answers; and an
// Origin or Sec-Fetch-Site that says "another site" is refused outright. So the session
// endpoints are same-origin only: a page on another origin (even one in AllowedOrigins, which
// may open the WebSocket) cannot use them.
//
// Concurrent refreshes by several tabs are serialised in the browser (moa.js, Web Locks), not
// forgiven here: a grace window for a just-spent token would also hand a thief who replays it
// within the window a valid session, and would need every edge instance to agree on it.

// SessionCookie is the name of the refresh-token cookie.
const SessionCookie = "moa_refresh"

// SessionHeader must be present (any non-empty value) on every session call: a custom header
// is what a cross-origin form or fetch without CORS cannot send.
const SessionHeader = "X-Moa-Session"

// maxSessionBody bounds a session call's body (a login: an email and a password).
const maxSessionBody = 8 << 10

// sessionReply is the body of a successful login or refresh: the refresh token is left out.
type sessionReply struct {
	AccessToken string         `json:"access_token"`
	TokenType   string         `json:"token_type"`
	ExpiresAt   time.Time      `json:"expires_at"`
	User        contracts.User `json:"user"`
}

func (g *Gateway) routesSession(mux *http.ServeMux) {
	mux.HandleFunc("POST /session/login", g.sessionCall("session.login", g.sessionLogin))
	mux.HandleFunc("POST /session/refresh", g.sessionCall("session.refresh", g.sessionRefresh))
	mux.HandleFunc("POST /session/logout", g.sessionCall("session.logout", g.sessionLogout))
}

// sessionCall applies the checks every session endpoint shares before fn runs, and counts the
// call in the edge's call metrics under name (refused cross-site calls included).
func (g *Gateway) sessionCall(name string, fn func(ctx context.Context, w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		start := time.Now()
		if err := g.sameSite(r); err != nil {
			g.metrics.observeCall(name, err, time.Since(start))
			writeError(w, http.StatusForbidden, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxSessionBody)
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.CallTimeout)
		defer cancel()
		err := fn(ctx, w, r)
		g.metrics.observeCall(name, err, time.Since(start))
		if err != nil {
			e := contracts.AsError(err)
			writeError(w, statusOf(e), e)
		}
	}
}

// sameSite refuses a session call that did not come from a page of the edge: see the package
// comment above. Session calls are same-origin only. Config.AllowedOrigins does not extend to
// them (it is the WebSocket allowlist): the edge answers no CORS preflight, which the
// X-Moa-Session header makes every cross-origin call need, and the cookie is SameSite=Strict,
// so a page of another origin could not use the session anyway.
func (g *Gateway) sameSite(r *http.Request) *contracts.Error {
	if r.Header.Get(SessionHeader) == "" {
		return contracts.ErrForbidden.Msg("session calls need the %s header", SessionHeader)
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return contracts.ErrOriginForbidden.Msg("session calls from another site are refused")
	}
	if !sameOrigin(r) {
		return contracts.ErrOriginForbidden.Msg("origin %q may not use the session", r.Header.Get("Origin"))
	}
	return nil
}

// sameOrigin reports whether the request's Origin, when it has one, is the edge's own host.
// A request without Origin is not a browser's cross-origin call (browsers send it on every
// cross-origin POST) and is left to the other checks.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func (g *Gateway) sessionLogin(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	// Only the credentials: the address is the edge's to say.
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return contracts.ErrBadRequest.Msg("body must be {\"email\", \"password\"}")
	}
	req := contracts.LoginRequest{Email: body.Email, Password: body.Password}
	// As over the WebSocket (loginAddr): the throttle counts the peer's address, never one
	// the client names.
	req.ClientAddr = r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.ClientAddr = host
	}
	s, err := bus.Call(ctx, g.client, contracts.AuthLogin, req)
	if err != nil {
		return err
	}
	// The new cookie replaces the browser's old one: revoke that session first, or it would
	// live on (valid until it expires) with no browser able to sign it out. Best effort: it
	// may be ended already, and failing to end it must not refuse the new sign-in.
	if old := refreshCookie(r); old != "" {
		_, _ = bus.Call(ctx, g.client, contracts.AuthLogout, contracts.LogoutRequest{RefreshToken: old})
	}
	return g.sessionStarted(w, r, s)
}

func (g *Gateway) sessionRefresh(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	token := refreshCookie(r)
	if token == "" {
		return contracts.ErrUnauthenticated.Msg("not signed in")
	}
	s, err := bus.Call(ctx, g.client, contracts.AuthRefresh, contracts.RefreshRequest{RefreshToken: token})
	if err != nil {
		// A refused token (ended, expired, reused) will never work again: forget it, so the
		// browser stops sending it. A transient failure keeps it for the next try.
		if e := contracts.AsError(err); e.Kind == contracts.KindUnauthenticated {
			g.clearSessionCookie(w, r)
		}
		return err
	}
	return g.sessionStarted(w, r, s)
}

func (g *Gateway) sessionLogout(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if token := refreshCookie(r); token != "" {
		_, err := bus.Call(ctx, g.client, contracts.AuthLogout, contracts.LogoutRequest{RefreshToken: token})
		// An unknown or ended session is signed out already; anything else (auth not
		// answering) must not look like success, or the session would live on unrevoked.
		if err != nil && !errors.Is(err, contracts.ErrTokenInvalid) {
			return err
		}
	}
	g.clearSessionCookie(w, r)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}\n"))
	return nil
}

// sessionStarted sets the cookie to the session's refresh token and answers the rest.
func (g *Gateway) sessionStarted(w http.ResponseWriter, r *http.Request, s contracts.Session) error {
	c := g.sessionCookie(r, s.RefreshToken)
	c.Expires = s.RefreshExpiresAt
	c.MaxAge = int(time.Until(s.RefreshExpiresAt).Seconds())
	if c.MaxAge <= 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(sessionReply{AccessToken: s.AccessToken, TokenType: s.TokenType, ExpiresAt: s.ExpiresAt, User: s.User})
}

func refreshCookie(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

func (g *Gateway) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	c := g.sessionCookie(r, "")
	c.MaxAge = -1 // "Max-Age=0": delete now
	http.SetCookie(w, c)
}

// sessionCookie is the cookie with its attributes. The Path is Config.SessionCookiePath when
// set; otherwise the directory of the request URI as this server received it (RequestURI,
// before any http.StripPrefix), so that an edge mounted under a prefix in the same server
// scopes the cookie to its own session/ endpoints. That guess is only right when the path the
// browser used reaches the edge unchanged: behind a proxy that rewrites the prefix
// (/shop/session/ → /session/) the browser would get Path=/session and never send the cookie
// back, so such a deployment sets SessionCookiePath to the path the browser sees.
func (g *Gateway) sessionCookie(r *http.Request, value string) *http.Cookie {
	p := "/session"
	if g.cfg.SessionCookiePath != "" {
		p = g.cfg.SessionCookiePath
	} else if u, err := url.ParseRequestURI(r.RequestURI); err == nil && strings.HasPrefix(u.Path, "/") {
		p = path.Dir(u.Path)
	}
	return &http.Cookie{Name: SessionCookie, Value: value, Path: p, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		// Behind a TLS-terminating proxy the request is plain HTTP; the proxy's header only
		// ever makes the cookie stricter, so trusting it is safe.
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")}
}

// statusOf is the HTTP status of a failed call over HTTP (the session and operations endpoints).
func statusOf(e *contracts.Error) int {
	if errors.Is(e, contracts.ErrRateLimited) || errors.Is(e, contracts.ErrTooManyAttempts) {
		return http.StatusTooManyRequests
	}
	switch e.Kind {
	case contracts.KindInvalid:
		return http.StatusBadRequest
	case contracts.KindUnauthenticated:
		return http.StatusUnauthorized
	case contracts.KindForbidden:
		return http.StatusForbidden
	case contracts.KindNotFound:
		return http.StatusNotFound
	case contracts.KindConflict:
		return http.StatusConflict
	case contracts.KindUnavailable:
		return http.StatusServiceUnavailable
	case contracts.KindTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}
