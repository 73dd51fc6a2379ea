package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// Gateway is one edge instance: it upgrades HTTP requests on /ws to WebSocket connections,
// serves the demo page and the JavaScript SDK, and mediates between app clients and the
// services on the bus. Several instances on one NATS act as one: pushes reach a user's
// connections on every instance, and presence is shared through a key-value bucket.
type Gateway struct {
	cfg      Config
	rt       *bus.Runtime
	nc       *nats.Conn
	client   *bus.Client
	verifier *authn.Verifier
	routes   map[string]*Route
	upgrader websocket.Upgrader
	hub      *hub
	presence *presence
	metrics  *metrics
	log      *slog.Logger
	mux      *http.ServeMux

	connSeq atomic.Uint64
	sweep   *bus.Job // the connections' clocks (sweep.go), stopped by Shutdown

	ops         atomic.Pointer[Ops] // the operations API's sources; nil: off (ops.go)
	opsThrottle throttle            // operator sign-ins on this instance

	mu        sync.Mutex
	conns     map[*conn]struct{}
	userConns map[string]int
	closing   bool
	drained   chan struct{} // closed when the last connection ended after Shutdown began
}

// New returns a gateway calling services through rt. It panics on a route table with a
// duplicate method, which is a programming error like a duplicate http.ServeMux pattern.
func New(rt *bus.Runtime, cfg Config) *Gateway {
	cfg.setDefaults()
	log := cfg.Logger
	if log == nil {
		log = rt.Logger()
	}
	log = log.With("component", "edge", "edge", cfg.InstanceID)
	g := &Gateway{cfg: cfg, rt: rt, nc: rt.Conn(), log: log, routes: map[string]*Route{},
		conns: map[*conn]struct{}{}, userConns: map[string]int{}, drained: make(chan struct{})}
	g.client = rt.NewClient("edge")
	g.verifier = authn.NewVerifier(g.client)
	for i := range cfg.Routes {
		r := cfg.Routes[i]
		if _, dup := g.routes[r.Method]; dup {
			panic(fmt.Sprintf("edge: method %s routed twice", r.Method))
		}
		g.routes[r.Method] = &r
	}
	g.metrics = newMetrics(rt.Registry(), cfg.InstanceID)
	g.hub = newHub(g.nc, log, g.metrics)
	g.presence = newPresence(rt.JetStream(), g.nc, g.hub, cfg.InstanceID, cfg.PresenceTTL, log)
	g.hub.observe = g.presence.observe
	g.upgrader = websocket.Upgrader{
		// A small read buffer (see hijacker: ReadBufferSize 0 makes gorilla use it) and pooled
		// write buffers keep an idle connection in a few KB; frames larger than the buffer are
		// read straight through.
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: cfg.Compression,
		// The origin was checked before Upgrade is called (with a readable answer); this is
		// the same check, so gorilla's default (same host only) cannot drift from ours.
		CheckOrigin: g.originAllowed,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeError(w, status, contracts.ErrBadRequest.Msg("websocket handshake: %v", reason))
		},
	}
	g.sweep = g.sweeper()
	g.sweep.Start(context.Background(), log)
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("GET /ws", g.serveWS)
	g.routesWeb(g.mux)
	g.routesSession(g.mux)
	g.routesOps(g.mux)
	if cfg.Ops != nil {
		g.EnableOps(*cfg.Ops)
	}
	return g
}

// Handler serves /ws (the WebSocket endpoint), the browser session at /session/ (session.go),
// the operations API at /ops/api/ (ops.go, operators only), the demo page at / and the SDK at
// /sdk/moa.js. The page uses relative URLs, so the handler can be mounted under a prefix with
// http.StripPrefix.
func (g *Gateway) Handler() http.Handler { return g.mux }

// InstanceID is this instance's id in presence records and metrics.
func (g *Gateway) InstanceID() string { return g.cfg.InstanceID }

// Connections returns the number of open connections.
func (g *Gateway) Connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// hello is the body of the first frame of every connection: what the client must know.
type hello struct {
	Version        int     `json:"version"`
	Instance       string  `json:"instance"`
	AuthDeadlineMS int64   `json:"auth_deadline_ms"`
	MaxFrameBytes  int     `json:"max_frame_bytes"`
	RatePerSec     float64 `json:"rate_per_sec"`
	Burst          int     `json:"burst"`
	PingIntervalMS int64   `json:"ping_interval_ms"`
}

func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if !g.originAllowed(r) {
		writeError(w, http.StatusForbidden, contracts.ErrOriginForbidden.Msg("origin %q may not connect", r.Header.Get("Origin")))
		return
	}
	g.mu.Lock()
	closing := g.closing
	g.mu.Unlock()
	if closing {
		writeError(w, http.StatusServiceUnavailable, contracts.ErrUnavailable.Msg("this edge is shutting down"))
		return
	}
	hj := &hijacker{ResponseWriter: w}
	ws, err := g.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader answered the request
	}
	ws.SetReadLimit(int64(g.cfg.MaxFrameBytes))
	c := &conn{g: g, ws: ws, br: hj.br, raw: rawConn(ws.NetConn()), id: g.connSeq.Add(1),
		authDue: time.Now().Add(g.cfg.AuthTimeout)}
	// Without negotiation gorilla never compresses, whatever the per-message setting.
	c.compress = g.cfg.Compression
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		_ = ws.Close()
		return
	}
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	g.metrics.conns.Inc()

	_ = ws.SetReadDeadline(time.Now().Add(g.idleTimeout()))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(g.idleTimeout()))
	})
	ws.SetPingHandler(c.answerPing)
	ws.SetCloseHandler(c.answerClose)
	c.send(protocol.ServerFrame{Type: protocol.TypeHello, Body: hello{
		Version: protocol.Version, Instance: g.cfg.InstanceID, AuthDeadlineMS: g.cfg.AuthTimeout.Milliseconds(),
		MaxFrameBytes: g.cfg.MaxFrameBytes, RatePerSec: g.cfg.RatePerSec, Burst: g.cfg.Burst,
		PingIntervalMS: g.cfg.PingInterval.Milliseconds()}})
	// A fresh goroutine reads, so the HTTP server's goroutine (and its larger stack) ends here.
	go c.readLoop()
}

// idleTimeout is how long a connection may send nothing, not even a pong.
func (g *Gateway) idleTimeout() time.Duration { return g.cfg.PingInterval + g.cfg.PongTimeout }

// userJoined counts a user's connection here, refusing one past the cap.
func (g *Gateway) userJoined(c *conn, p contracts.Principal) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.userConns[p.UserID]
	if n >= g.cfg.MaxConnsPerUser {
		return false
	}
	g.userConns[p.UserID] = n + 1
	if n == 0 {
		g.metrics.users.Inc()
	}
	return true
}

// listenUser subscribes the connection to the user's pushes and, for a seller, claims them
// online.
func (g *Gateway) listenUser(c *conn, p contracts.Principal) error {
	subject, err := contracts.PushUserSubject(p.UserID)
	if err != nil {
		return err
	}
	if err := g.hub.join(subject, kindUser, c); err != nil {
		return err
	}
	if p.Role == contracts.RoleSeller {
		g.presence.connected(p.UserID)
	}
	return nil
}

// userLeft undoes userJoined and listenUser.
func (g *Gateway) userLeft(c *conn, p contracts.Principal) {
	if subject, err := contracts.PushUserSubject(p.UserID); err == nil {
		g.hub.leave(subject, c)
	}
	g.mu.Lock()
	n := g.userConns[p.UserID] - 1
	if n <= 0 {
		delete(g.userConns, p.UserID)
		g.metrics.users.Dec()
	} else {
		g.userConns[p.UserID] = n
	}
	g.mu.Unlock()
	if p.Role == contracts.RoleSeller {
		g.presence.disconnected(p.UserID)
	}
}

func (g *Gateway) connDone(c *conn) {
	g.metrics.conns.Dec()
	g.mu.Lock()
	delete(g.conns, c)
	if g.closing && len(g.conns) == 0 {
		select {
		case <-g.drained:
		default:
			close(g.drained)
		}
	}
	g.mu.Unlock()
}

// Shutdown closes every connection with a going-away close (after a bye frame), so clients
// reconnect to another instance, and waits for them within ctx; connections still open then
// are dropped. It withdraws this instance's presence claims and stops listening.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil
	}
	g.closing = true
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		close(g.drained)
	}
	g.mu.Unlock()
	// A run of the sweep only enqueues, so it ends at once; the connections close next.
	_ = g.sweep.Stop(ctx)
	for _, c := range conns {
		c.closeWith(protocol.CloseGoingAway, contracts.ErrUnavailable.Msg("the server is shutting down; reconnect"))
	}
	var err error
	select {
	case <-g.drained:
	case <-ctx.Done():
		err = ctx.Err()
		g.mu.Lock()
		for c := range g.conns {
			_ = c.ws.NetConn().Close()
		}
		g.mu.Unlock()
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceOpTimeout)
	defer cancel()
	g.presence.close(pctx)
	g.hub.close()
	return err
}

// writeError answers a plain HTTP request with a catalogue error as JSON.
func writeError(w http.ResponseWriter, status int, e *contracts.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]*contracts.Error{"error": e})
}
