package bus_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// A service whose NATS server froze must leave it for another within seconds: until it does,
// it sends requests into a server that answers nothing. nats.go's default (a ping every two
// minutes, two outstanding) would keep it there for four to six minutes.
func TestConnectLeavesAFrozenServerWithinSeconds(t *testing.T) {
	url := startNATS(t)
	f := moatest.NewProxy(t, strings.TrimPrefix(url, "nats://"))
	nc, err := bus.Connect(bus.ConnectConfig{URLs: f.URL(), Name: "freeze-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Freeze()
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

// The server side of the same watch: an embedded server drops a client that stopped answering
// (frozen, or behind a partition) within seconds, so what it would have been sent (a queue
// group's requests) goes to the members that answer. The client here keeps nats.go's default
// two-minute pings, so only the server's pings can find it out. With nats-server's defaults
// it was still connected after 30 s.
func TestEmbeddedServerDropsAFrozenClientWithinSeconds(t *testing.T) {
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	f := moatest.NewProxy(t, strings.TrimPrefix(s.ClientURL(), "nats://"))
	nc, err := nats.Connect(f.URL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := s.NumClients(); n != 1 {
		t.Fatalf("server has %d clients; want 1", n)
	}
	f.Freeze()
	frozenAt := time.Now()
	moatest.WaitFor(t, 30*time.Second, func() error {
		if s.NumClients() != 0 {
			return errStillConnected
		}
		return nil
	})
	took := time.Since(frozenAt)
	t.Logf("server dropped the frozen client after %s", took.Round(100*time.Millisecond))
	if max := bus.ServerStaleAfter + 2*time.Second; took > max {
		t.Errorf("server dropped the frozen client after %s; want at most %s", took, max)
	}
}
