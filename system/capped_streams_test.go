package system_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/system"
)

// syncBuffer is a log destination safe for the system's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// On a single server every replicated stream is capped to one replica, which is expected and
// the same for all of them: the log says it once, listing the streams, however many services
// check them (each service checks the streams it relies on; two do here).
func TestCappedStreamsAreOneLogLine(t *testing.T) {
	var replicated []contracts.StreamSpec
	for _, s := range contracts.Streams() {
		if !s.Critical && s.Replicas > 1 {
			replicated = append(replicated, s)
		}
	}
	if len(replicated) == 0 {
		t.Fatal("no non-critical replicated stream is declared: this test checks nothing")
	}
	checker := func(ctx context.Context, env bus.Env) (bus.Component, error) {
		return bus.Stopper(func(context.Context) error { return nil }), env.Runtime.CheckDurability(ctx, replicated...)
	}
	logs := &syncBuffer{}
	startSystem(t, system.Config{
		DataDir:  t.TempDir(),
		NATS:     system.NATSConfig{Addr: "127.0.0.1:0"},
		HTTPAddr: "127.0.0.1:0",
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registry: map[string]system.Registration{"checker-a": {Start: checker}, "checker-b": {Start: checker}},
	})
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "fewer replicas than declared") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d lines about capped replicas, want one:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, s := range replicated {
		if !strings.Contains(lines[0], s.Name) {
			t.Errorf("the line does not name %s: %s", s.Name, lines[0])
		}
	}
}
