package moatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/moatest"
)

func TestNATSRestartKeepsFileStream(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := moatest.NATS(t, moatest.WithSyncAlways())
	url := srv.URL()
	nc := srv.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "EVENTS", Subjects: []string{"events.>"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "events.one", []byte("hello")); err != nil {
		t.Fatal(err)
	}

	srv.Restart(t)
	if srv.URL() != url {
		t.Fatalf("URL changed across restart: %s -> %s", url, srv.URL())
	}
	// The same connection comes back by itself.
	moatest.Eventually(t, 10*time.Second, nc.IsConnected, "client reconnected after restart")
	var msg *jetstream.RawStreamMsg
	moatest.WaitFor(t, 10*time.Second, func() error {
		msg, err = stream.GetMsg(ctx, 1)
		return err
	})
	if string(msg.Data) != "hello" {
		t.Fatalf("message after restart = %q", msg.Data)
	}
}

func TestNATSOptions(t *testing.T) {
	t.Parallel()
	srv := moatest.NATS(t, moatest.WithMaxPayload(4096), moatest.WithSyncAlways())
	nc := srv.Conn(t)
	if got := nc.MaxPayload(); got != 4096 {
		t.Fatalf("MaxPayload = %d, want 4096", got)
	}
	if !srv.Server().JetStreamConfig().SyncAlways {
		t.Fatal("SyncAlways not set")
	}
	if err := nc.Publish("too.big", make([]byte, 5000)); err != nats.ErrMaxPayload {
		t.Fatalf("publishing 5000 bytes: %v, want ErrMaxPayload", err)
	}
}

func TestNATSShutdownIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := moatest.NATS(t)
	srv.Shutdown()
	srv.Shutdown()
	if _, err := nats.Connect(srv.URL(), nats.Timeout(time.Second)); err == nil {
		t.Fatal("connected to a shut down server")
	}
}

func TestNATSCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := moatest.NATSCluster(t, 3)
	if n := len(c.Servers()); n != 3 {
		t.Fatalf("%d servers", n)
	}
	js, err := jetstream.New(c.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "r3.a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream cluster info %+v, want a leader and 2 replicas", info.Cluster)
	}

	// Restarting the stream leader forces a new election; the stream
	// must keep its message and accept writes again.
	leader := -1
	for i, s := range c.Servers() {
		if s.JetStreamIsStreamLeader("$G", "R3") {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no stream leader")
	}
	c.Restart(t, leader)
	moatest.WaitFor(t, 30*time.Second, func() error {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.Publish(attempt, "r3.b", []byte("2"))
		return err
	})
	info, err = stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream has %d messages after leader restart, want 2", info.State.Msgs)
	}
}
