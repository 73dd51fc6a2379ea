package moatest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsStartTimeout bounds how long a server may take to accept clients. A server enables
// JetStream (recovering its store) before it listens, and a cluster node did exceed 15 s on
// the 2-core machine with the whole suite running (2 of about 15 runs of the saga failover
// test); a server that cannot listen fails the same way, only later.
const natsStartTimeout = 60 * time.Second

// Option adjusts an embedded nats-server's options before it starts. Any
// func(*server.Options) works; the With functions cover the common cases.
type Option func(*server.Options)

// WithMaxPayload sets the largest message the server accepts (default 1 MiB).
func WithMaxPayload(n int32) Option {
	return func(o *server.Options) { o.MaxPayload = n }
}

// WithSyncAlways makes JetStream fsync after every write instead of every
// couple of minutes, as durability tests that kill the server expect.
func WithSyncAlways() Option {
	return func(o *server.Options) { o.SyncAlways = true }
}

// NATSServer is an embedded nats-server with JetStream, owned by a test.
type NATSServer struct {
	mu   sync.Mutex
	opts *server.Options // what every (re)start clones; Port fixed after the first
	srv  *server.Server
	log  *natsLog
}

// NATS starts a nats-server with JetStream (file storage in t.TempDir())
// on a free loopback port and shuts it down when the test ends.
func NATS(t testing.TB, opts ...Option) *NATSServer {
	t.Helper()
	o := &server.Options{
		ServerName: "moatest",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}
	for _, opt := range opts {
		opt(o)
	}
	n := &NATSServer{opts: o, log: &natsLog{}}
	srv, err := startNATS(o.Clone(), n.log)
	if err != nil {
		t.Fatalf("moatest.NATS: %v", err)
	}
	n.srv = srv
	// Restarts must come back where clients reconnect to.
	n.opts.Port = srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.Shutdown)
	return n
}

// URL is the client URL, nats://127.0.0.1:port. It survives Restart.
func (n *NATSServer) URL() string {
	return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port)
}

// Server is the running server. After Restart it is a new value.
func (n *NATSServer) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Conn connects to the server and closes the connection when the test
// ends. It reconnects forever, every 20 ms, so it outlives Restart; opts
// are applied after those defaults.
func (n *NATSServer) Conn(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, n.URL(), opts)
}

// Restart shuts the server down and starts it again on the same port with
// the same JetStream store, as a crash-free restart would.
func (n *NATSServer) Restart(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	stopNATS(n.srv)
	srv, err := startNATS(n.opts.Clone(), n.log)
	if err != nil {
		t.Fatalf("moatest: restart NATS: %v", err)
	}
	n.srv = srv
}

// Shutdown stops the server and waits until it has. It is idempotent, and
// runs at cleanup anyway.
func (n *NATSServer) Shutdown() {
	n.mu.Lock()
	defer n.mu.Unlock()
	stopNATS(n.srv)
}

func startNATS(o *server.Options, log *natsLog) (*server.Server, error) {
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, err
	}
	// NoLog leaves the server without a logger, and then even Fatalf is
	// silent; keep the errors so a failed start can say why.
	srv.SetLoggerV2(log, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(natsStartTimeout) {
		stopNATS(srv)
		return nil, fmt.Errorf("nats-server on port %d not ready within %s%s", o.Port, natsStartTimeout, log.errors())
	}
	if o.JetStream && !srv.JetStreamEnabled() {
		stopNATS(srv)
		return nil, fmt.Errorf("nats-server on port %d started without JetStream%s", o.Port, log.errors())
	}
	return srv, nil
}

func stopNATS(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

func connect(t testing.TB, url string, opts []nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{
		nats.Name("moatest " + t.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		t.Fatalf("moatest: connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// natsLog keeps a server's warnings and errors to quote when it fails.
type natsLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *natsLog) add(level, format string, v []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(format, v...))
	if len(l.lines) > 20 {
		l.lines = l.lines[len(l.lines)-20:]
	}
}

func (l *natsLog) errors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return "\nserver log:\n" + strings.Join(l.lines, "\n")
}

func (l *natsLog) Noticef(string, ...any)         {}
func (l *natsLog) Debugf(string, ...any)          {}
func (l *natsLog) Tracef(string, ...any)          {}
func (l *natsLog) Warnf(format string, v ...any)  { l.add("[WRN]", format, v) }
func (l *natsLog) Errorf(format string, v ...any) { l.add("[ERR]", format, v) }
func (l *natsLog) Fatalf(format string, v ...any) { l.add("[FTL]", format, v) }
