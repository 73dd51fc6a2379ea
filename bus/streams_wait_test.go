package bus_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// Instances start together with their server (and under load the JetStream API answers late):
// EnsureStreams waits for JetStream instead of failing the start. Before, the first "JetStream
// not enabled" or API timeout failed it (TestEnsureStreamsConcurrentStarts failed so in CI under
// -race: "bus: stream EVTEST: context deadline exceeded").
func TestEnsureStreamsWaitsForJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	logs := &moatest.Buffer{}
	rt := newRuntime(t, srv.ClientURL(), bus.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rt.EnsureStreams(ctx, evStream) }()

	// JetStream comes up only after EnsureStreams has found it missing.
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !strings.Contains(logs.String(), "busy or not ready; retrying") {
		select {
		case err := <-done:
			t.Fatalf("EnsureStreams returned before JetStream was up: %v", err)
		case <-deadline.C:
			t.Fatalf("EnsureStreams neither retried nor returned; log:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := srv.EnableJetStream(&server.JetStreamConfig{StoreDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("EnsureStreams after JetStream came up: %v", err)
	}
	if _, err := rt.JetStream().Stream(ctx, evStream.Name); err != nil {
		t.Fatalf("the stream was not created: %v", err)
	}
}
