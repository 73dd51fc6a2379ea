package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
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

// A service instance whose connection froze keeps its queue-group subscriptions on the server
// until the server gives it up, and until then it is picked for about half of the requests,
// which time out. The breaker cannot route around it: it sees the endpoint, not the instance,
// so when those timeouts open it, it fails for its open period the calls the healthy instance
// would have answered too. What ends it is the server's pings (StartEmbedded, and the same
// settings in a production nats.conf): from then on no call reaches the frozen member.
func TestFrozenQueueMemberStopsGettingRequests(t *testing.T) {
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	healthy := newRuntime(t, s.ClientURL())
	startEcho(t, healthy)
	f := moatest.NewProxy(t, strings.TrimPrefix(s.ClientURL(), "nats://"))
	// nats.go's default pings (two minutes): only the server can find this one out.
	nc, err := nats.Connect(f.URL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	frozen, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	startEcho(t, frozen)
	caller := newRuntime(t, s.ClientURL()).NewClient("caller")
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := bus.Call(ctx, caller, epEcho, echoReq{Text: "x"}, bus.NoRetry())
		return err
	}
	moatest.WaitFor(t, 10*time.Second, call)

	f.Freeze()
	frozenAt := time.Now()
	var timedOut, rejected, ok int
	var lastTimeout, lastRejected time.Duration
	// Calls until twenty in a row succeed: the frozen member gets none any more, and the
	// breaker let calls through again.
	moatest.WaitFor(t, bus.ServerStaleAfter+15*time.Second, func() error {
		for streak := 0; streak < 20; streak++ {
			err := call()
			switch {
			case err == nil:
				ok++
				continue
			case contracts.AsError(err).Code == contracts.ErrCircuitOpen.Code:
				rejected++
				lastRejected = time.Since(frozenAt)
			default:
				timedOut++
				lastTimeout = time.Since(frozenAt)
			}
			return err
		}
		return nil
	})
	t.Logf("frozen queue member: %d calls timed out (the last %.1f s after the freeze), %d rejected by the open breaker (the last %.1f s after), %d succeeded",
		timedOut, lastTimeout.Seconds(), rejected, lastRejected.Seconds(), ok)
	if timedOut == 0 {
		t.Error("no call timed out: the frozen member never got a request, so this tested nothing")
	}
	if max := bus.ServerStaleAfter + 2*time.Second; lastTimeout > max {
		t.Errorf("calls reached the frozen member until %s after the freeze; want at most %s", lastTimeout, max)
	}
}
