package edge

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
	"github.com/moa-run/moa/moatest"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// runtime connects a bus runtime to the test's NATS server.
func runtime(t *testing.T, ns *moatest.NATSServer) *bus.Runtime {
	t.Helper()
	rt, err := bus.New(ns.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	return rt
}

// issuer serves auth.v1.keys with its own key and mints tokens of any lifetime (authntest only
// mints 15-minute ones; expiry tests need seconds).
type issuer struct {
	t   *testing.T
	kid string
	key ed25519.PrivateKey
}

func newIssuer(t *testing.T, rt *bus.Runtime) *issuer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss := &issuer{t: t, kid: authn.Thumbprint(pub), key: key}
	svc, err := rt.AddService(contracts.AuthService)
	if err != nil {
		t.Fatal(err)
	}
	set := contracts.KeySet{Keys: []contracts.JWK{authn.PublicJWK(iss.kid, pub)}}
	if err := bus.Handle(svc, contracts.AuthKeys, func(context.Context, contracts.Empty) (contracts.KeySet, error) {
		return set, nil
	}); err != nil {
		t.Fatal(err)
	}
	return iss
}

func (i *issuer) tokenTTL(p contracts.Principal, ttl time.Duration) string {
	i.t.Helper()
	tok, _, err := authn.Issue(i.key, i.kid, p, time.Now(), ttl)
	if err != nil {
		i.t.Fatal(err)
	}
	return tok
}

func (i *issuer) token(p contracts.Principal) string { return i.tokenTTL(p, time.Hour) }

func principal(role contracts.Role) contracts.Principal {
	id := uuid.NewString()
	return contracts.Principal{UserID: id, Role: role, Email: string(role) + "-" + id[:8] + "@example.test", DisplayName: "T " + string(role)}
}

// env is one NATS server with an issuer, on which tests start edges.
type env struct {
	t   *testing.T
	ns  *moatest.NATSServer
	rt  *bus.Runtime // services and the issuer live here
	iss *issuer
}

func newEnv(t *testing.T) *env {
	ns := moatest.NATS(t)
	rt := runtime(t, ns)
	return &env{t: t, ns: ns, rt: rt, iss: newIssuer(t, rt)}
}

// edge starts an edge instance on its own bus connection and HTTP server.
type testEdge struct {
	g   *Gateway
	srv *httptest.Server
	url string // ws://…/ws
}

func (e *env) edge(cfg Config) *testEdge {
	e.t.Helper()
	rt := runtime(e.t, e.ns)
	g := New(rt, cfg)
	srv := httptest.NewServer(g.Handler())
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		srv.Close()
	})
	return &testEdge{g: g, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
}

// publish sends a push to a user as a service would.
func (e *env) push(userID, topic string, seq uint64, body any) {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	msg, _ := json.Marshal(contracts.Push{Topic: topic, Seq: seq, Body: raw})
	subject, err := contracts.PushUserSubject(userID)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rt.Conn().Publish(subject, msg); err != nil {
		e.t.Fatal(err)
	}
}

// wsClient is a test client that reads synchronously, so tests decide when it reads.
type wsClient struct {
	t   *testing.T
	ws  *websocket.Conn
	n   int
	url string // the edge it is connected to
}

type frame struct {
	V        int              `json:"v"`
	Type     string           `json:"type"`
	ID       string           `json:"id"`
	Topic    string           `json:"topic"`
	Seq      uint64           `json:"seq"`
	Body     json.RawMessage  `json:"body"`
	Error    *contracts.Error `json:"error"`
	Reason   string           `json:"reason"`
	Degraded bool             `json:"degraded"`
}

type dialOpt func(*websocket.Dialer, http.Header)

func withOrigin(o string) dialOpt {
	return func(_ *websocket.Dialer, h http.Header) { h.Set("Origin", o) }
}

func withCompression() dialOpt {
	return func(d *websocket.Dialer, _ http.Header) { d.EnableCompression = true }
}

func dialRaw(url string, opts ...dialOpt) (*websocket.Conn, *http.Response, error) {
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	h := http.Header{}
	for _, o := range opts {
		o(d, h)
	}
	return d.Dial(url, h)
}

// dial connects and reads the hello frame.
func dial(t *testing.T, url string, opts ...dialOpt) *wsClient {
	t.Helper()
	ws, resp, err := dialRaw(url, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v (response %v)", url, err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &wsClient{t: t, ws: ws, url: url}
	if f := c.next(); f.Type != protocol.TypeHello {
		t.Fatalf("first frame %+v, want hello", f)
	}
	return c
}

func (c *wsClient) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) sendFrame(f map[string]any) {
	c.t.Helper()
	f["v"] = 1
	b, _ := json.Marshal(f)
	c.sendRaw(string(b))
}

// call sends a frame with a fresh id and returns the answer with that id, skipping pushes.
func (c *wsClient) call(f map[string]any) frame {
	c.t.Helper()
	c.n++
	id := "c" + string(rune('a'+c.n%26)) + uuid.NewString()[:6]
	f["id"] = id
	c.sendFrame(f)
	return c.until(func(fr frame) bool { return fr.ID == id })
}

func (c *wsClient) req(method string, body any) frame {
	c.t.Helper()
	return c.call(map[string]any{"type": "req", "method": method, "body": body})
}

func (c *wsClient) auth(token string) frame {
	c.t.Helper()
	return c.call(map[string]any{"type": "auth", "token": token})
}

func (c *wsClient) mustAuth(token string) {
	c.t.Helper()
	if f := c.auth(token); f.Type != protocol.TypeOK {
		c.t.Fatalf("auth: %+v %+v", f, f.Error)
	}
}

// next reads one frame within 10 s.
func (c *wsClient) next() frame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *wsClient) read(timeout time.Duration) (frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	mt, b, err := c.ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if mt != websocket.TextMessage {
		return frame{}, errors.New("binary message from the edge")
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, err
	}
	if f.V != 1 {
		return frame{}, errors.New("frame without v=1: " + string(b))
	}
	return f, nil
}

// until reads frames until one matches.
func (c *wsClient) until(match func(frame) bool) frame {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		f := c.next()
		if match(f) {
			return f
		}
	}
	c.t.Fatal("no matching frame within 15s")
	return frame{}
}

// expectClose reads until the connection closes and returns the close error.
func (c *wsClient) expectClose(timeout time.Duration) (*websocket.CloseError, []frame) {
	c.t.Helper()
	var seen []frame
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f, err := c.read(time.Until(deadline))
		if err == nil {
			seen = append(seen, f)
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce, seen
		}
		c.t.Fatalf("connection ended without a close frame: %v (after %d frames)", err, len(seen))
	}
	c.t.Fatalf("no close within %s", timeout)
	return nil, nil
}

func wantClose(t *testing.T, c *wsClient, code int, reason string) []frame {
	t.Helper()
	ce, seen := c.expectClose(20 * time.Second)
	if ce.Code != code || ce.Text != reason {
		t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Text, code, reason)
	}
	return seen
}

func wantError(t *testing.T, f frame, code string) {
	t.Helper()
	if f.Type != protocol.TypeError || f.Error == nil || f.Error.Code != code {
		t.Fatalf("got %s %+v, want error %s", f.Type, f.Error, code)
	}
}
