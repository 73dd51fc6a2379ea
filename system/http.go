package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// web is the process's HTTP server.
type web struct {
	ln  net.Listener
	srv *http.Server
	mux *http.ServeMux
	url string
}

// listenHTTP binds the HTTP address before anything else starts, so a port already in use
// fails at once, and /healthz answers while the databases start.
func (s *System) listenHTTP() (*web, error) {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	w := &web{ln: ln, mux: http.NewServeMux()}
	w.url = "http://" + displayAddr(ln.Addr().(*net.TCPAddr)) + "/"
	w.mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, map[string]string{"status": "ok"})
	})
	w.mux.HandleFunc("GET /readyz", s.serveReady)
	w.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	// The status page is at /status, and at the root ("/{$}", the root only) unless a
	// selected service (the edge) serves its web app there.
	w.mux.HandleFunc("GET /status", s.serveStatus)
	if !s.cfg.mountsRoot(s.names) {
		w.mux.HandleFunc("GET /{$}", s.serveStatus)
	}
	w.srv = &http.Server{Handler: w.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := w.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "error", err)
		}
	}()
	return w, nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(a.Port))
}

func (w *web) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.srv.Shutdown(ctx); err != nil {
		// Long-lived connections (WebSockets) are the edge's to close; do not wait for them.
		return w.srv.Close()
	}
	return nil
}

// HTTPURL is the base URL of the HTTP server, e.g. http://127.0.0.1:8080/.
func (s *System) HTTPURL() string { return s.web.url }

// Mount serves h on pattern (http.ServeMux syntax) on the system's HTTP server; the WebSocket
// edge mounts itself here. It fails when the pattern conflicts with one already served.
func (s *System) Mount(pattern string, h http.Handler) (err error) {
	defer func() {
		// ServeMux reports conflicts by panicking; a bad mount is a configuration error.
		if r := recover(); r != nil {
			err = fmt.Errorf("system: mount %q: %v", pattern, r)
		}
	}()
	s.web.mux.Handle(pattern, h)
	return nil
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready  bool              `json:"ready"`
	State  State             `json:"state"`
	Checks map[string]string `json:"checks"`
	// Durability is the durability guard's last word on each stream with a problem (also
	// summed up in Checks["durability"]).
	Durability []bus.StreamProblems `json:"durability,omitempty"`
}

// Ready checks what /readyz reports: the system finished starting and is not stopping, the
// NATS connection is up, JetStream answers, and every selected service started.
func (s *System) Ready(ctx context.Context) Readiness {
	r := Readiness{State: s.State(), Checks: map[string]string{}}
	ok := r.State == StateReady
	nc, rt := s.Conn(), s.Runtime()
	if nc == nil || rt == nil || nc.Status() != nats.CONNECTED {
		r.Checks["nats"] = "not connected"
		ok = false
	} else {
		r.Checks["nats"] = "ok"
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := rt.JetStream().AccountInfo(ctx); err != nil {
			r.Checks["jetstream"] = err.Error()
			ok = false
		} else {
			r.Checks["jetstream"] = "ok"
		}
	}
	// The guard's findings are detail, not readiness: a stream that lost a replica still
	// takes writes, and taking every instance out of service over it would make things
	// worse. "ok" until a problem is found (the first check is one interval after start).
	r.Checks["durability"] = "ok"
	if r.Durability = s.durabilityProblems(); len(r.Durability) > 0 {
		r.Checks["durability"] = describeProblems(r.Durability)
	}
	if n, want := len(s.Services()), len(s.names); n != want {
		r.Checks["services"] = fmt.Sprintf("%d of %d started", n, want)
		ok = false
	} else {
		r.Checks["services"] = "ok"
	}
	r.Ready = ok
	return r
}

func (s *System) serveReady(rw http.ResponseWriter, req *http.Request) {
	r := s.Ready(req.Context())
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(rw, code, r)
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(v)
}
