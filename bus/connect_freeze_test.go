package bus_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// freezer is a TCP proxy in front of a server that can freeze: it keeps the connections open
// but passes nothing either way, which is what a client sees of a server that is SIGSTOPped or
// cut off by a partition (no RST, no FIN, just silence).
type freezer struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	t.Cleanup(func() {
		_ = ln.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			_ = c.Close()
		}
	})
	go f.accept()
	return f
}

func (f *freezer) url() string { return "nats://" + f.ln.Addr().String() }

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = true
}

func (f *freezer) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", f.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, s)
		f.mu.Unlock()
		go f.pipe(c, s)
		go f.pipe(s, c)
	}
}

// pipe copies until frozen; from then on it reads and drops, so the sender never sees
// back-pressure or an error, only silence from the other side.
func (f *freezer) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if frozen {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// A service whose NATS server froze must leave it for another within seconds: until it does,
// it sends requests into a server that answers nothing. nats.go's default (a ping every two
// minutes, two outstanding) would keep it there for four to six minutes.
func TestConnectLeavesAFrozenServerWithinSeconds(t *testing.T) {
	url := startNATS(t)
	f := newFreezer(t, strings.TrimPrefix(url, "nats://"))
	nc, err := bus.Connect(bus.ConnectConfig{URLs: f.url(), Name: "freeze-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	f.freeze()
	frozenAt := time.Now()
	// Poll for the client to give up on the server (it then reconnects, through the proxy
	// again, and fails its handshake there: what matters is that it left).
	moatest.WaitFor(t, 20*time.Second, func() error {
		if nc.Status() == nats.CONNECTED && nc.Stats().Reconnects == 0 {
			return errStillConnected
		}
		return nil
	})
	took := time.Since(frozenAt)
	t.Logf("left the frozen server after %s", took.Round(100*time.Millisecond))
	if max := bus.StaleConnectionAfter + 2*time.Second; took > max {
		t.Errorf("left the frozen server after %s; want at most %s", took, max)
	}
}

var errStillConnected = errors.New("still connected to the frozen server")
