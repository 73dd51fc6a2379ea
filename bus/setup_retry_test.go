package bus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// startNATSWithoutJetStream is a server that is up but whose JetStream is not (yet): what a
// process starting beside its server sees. EnableJetStream brings JetStream up later.
func startNATSWithoutJetStream(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return srv
}

// A JetStream that stays unavailable fails the start after the start-up patience, saying how
// long it waited and why, rather than waiting forever.
func TestSetupGivesUpAfterStartupPatience(t *testing.T) {
	srv := startNATSWithoutJetStream(t)
	logs := &moatest.Buffer{}
	rt := newRuntime(t, srv.ClientURL(), bus.WithStartupPatience(500*time.Millisecond),
		bus.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if got := rt.StartupPatience(); got != 500*time.Millisecond {
		t.Fatalf("StartupPatience() = %v, want 500ms", got)
	}
	start := time.Now()
	err := rt.EnsureStreams(context.Background(), evStream)
	took := time.Since(start)
	if err == nil {
		t.Fatal("EnsureStreams succeeded without JetStream")
	}
	if took < 500*time.Millisecond || took > 5*time.Second {
		t.Errorf("EnsureStreams gave up after %v, want about the patience (500ms)", took)
	}
	if !strings.Contains(err.Error(), "start-up patience 500ms") || !strings.Contains(err.Error(), "stream EVTEST") {
		t.Errorf("error %q does not name the step and the patience", err)
	}
	if !bus.TransientSetupError(err) {
		t.Errorf("the error does not wrap the last attempt's cause: %v", err)
	}
	if !strings.Contains(logs.String(), "attempt=2") {
		t.Errorf("no WARN counting the attempts; log:\n%s", logs.String())
	}
}

// A refusal is not retried: a stream whose subjects overlap another's fails at once, with the
// server's own error, and no retry is logged.
func TestSetupReturnsARefusalAtOnce(t *testing.T) {
	logs := &moatest.Buffer{}
	rt := newRuntime(t, startNATS(t), bus.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.EnsureStreams(ctx, evStream); err != nil {
		t.Fatal(err)
	}
	clash := contracts.StreamSpec{Name: "EVCLASH", Subjects: []string{"evt.evtest.>"}, Storage: contracts.FileStorage}
	start := time.Now()
	err := rt.EnsureStreams(ctx, clash)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10065 { // JSStreamSubjectOverlapErr
		t.Fatalf("EnsureStreams of an overlapping stream: %v, want the subjects-overlap refusal (10065)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the refusal took %v: it was retried", took)
	}
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("a refusal was retried; log:\n%s", logs.String())
	}
}

// Consumer creation is a start-up step too: a Consume that finds JetStream not up retries
// (logged with its attempt) until the start-up patience ends, and then says so. (That it
// converges once JetStream answers is what the system's concurrent-start test shows; here the
// stream could not be created between JetStream coming up and the consumer's next attempt
// without a race.)
func TestConsumeRetriesWhileJetStreamIsNotUp(t *testing.T) {
	srv := startNATSWithoutJetStream(t)
	logs := &moatest.Buffer{}
	rt := newRuntime(t, srv.ClientURL(), bus.WithStartupPatience(time.Second),
		bus.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	spec := contracts.ConsumerSpec{Stream: evStream, Durable: "setup_wait", FilterSubjects: []string{"evt.evtest.>"}}
	start := time.Now()
	_, err := rt.Consume(context.Background(), "evtest", spec, func(context.Context, *bus.Msg) ([]byte, error) { return nil, nil })
	if err == nil {
		t.Fatal("Consume succeeded without JetStream")
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("Consume gave up after %v, before its patience (1s)", took)
	}
	if !strings.Contains(err.Error(), "consumer setup_wait on EVTEST") || !bus.TransientSetupError(err) {
		t.Errorf("error %q does not name the step or lost its cause", err)
	}
	if !strings.Contains(logs.String(), `step="consumer setup_wait on EVTEST" attempt=2`) {
		t.Errorf("no retry logged; log:\n%s", logs.String())
	}
}

// What is retried: the server's "not yet" answers and the API not answering; not its refusals.
func TestTransientSetupError(t *testing.T) {
	api := func(code jetstream.ErrorCode) error {
		return fmt.Errorf("bus: stream X: %w", &jetstream.APIError{ErrorCode: code, Code: 503})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"attempt deadline", fmt.Errorf("bus: stream X: %w", context.DeadlineExceeded), true},
		{"nats timeout", nats.ErrTimeout, true},
		{"no responders", fmt.Errorf("x: %w", nats.ErrNoResponders), true},
		{"jetstream not enabled", jetstream.ErrJetStreamNotEnabled, true},
		{"10008 cluster not available", api(10008), true},
		{"10005 no suitable peers", api(10005), true},
		{"10023 insufficient resources", api(10023), true},
		{"10049 stream create failed on its peers", api(10049), true},
		{"10118 stream offline", api(10118), true},
		{"10065 subjects overlap", api(10065), false},
		{"10058 name in use with another config", api(10058), false},
		{"10052 invalid config", api(10052), false},
		{"marked by the step", fmt.Errorf("x: %w", bus.Transient(errors.New("connection reset"))), true},
		{"canceled", context.Canceled, false},
		{"connection closed", nats.ErrConnectionClosed, false},
		{"nil", nil, false},
	} {
		if got := bus.TransientSetupError(tc.err); got != tc.want {
			t.Errorf("%s: TransientSetupError = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Replicas starting together all ensure the same R3 streams on a cluster, then check their
// durability. Every instance must see the stream it ensured: before, the create could be
// answered before the meta layer applied it, and the durability check refused the start with
// "stream ... does not exist" (every round, run against the previous ensureStream). A new
// group's silence while it elects its leader is retried, not an error.
func TestEnsureStreamsFromInstancesStartingTogetherOnACluster(t *testing.T) {
	cluster := moatest.NATSCluster(t, 3)
	const instances = 4
	rts := make([]*bus.Runtime, instances)
	for i := range rts {
		var err error
		rts[i], err = bus.New(cluster.Conn(t), bus.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rts[i].Close(ctx, false)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round := range 3 {
		spec := critical
		spec.Name = fmt.Sprintf("TOGETHER%d", round)
		spec.Subjects = []string{fmt.Sprintf("evt.together%d.>", round)}
		release := make(chan struct{})
		errs := make(chan error, instances)
		for _, rt := range rts {
			go func() {
				<-release
				err := rt.EnsureStreams(ctx, spec)
				if err == nil {
					err = rt.CheckDurability(ctx, spec)
				}
				errs <- err
			}()
		}
		close(release)
		for range instances {
			if err := <-errs; err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
	}
}
