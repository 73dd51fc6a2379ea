package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// A test domain of its own, so these tests never depend on the marketplace's declarations.
var evStream = contracts.StreamSpec{
	Name: "EVTEST", Description: "bus event tests", Subjects: []string{"evt.evtest.>"},
	Storage: contracts.FileStorage, Replicas: 3, Retention: contracts.LimitsRetention,
	MaxAge: time.Hour, Duplicates: 10 * time.Minute,
}

type evOrderPlaced struct {
	OrderID string `json:"order_id"`
	Amount  int    `json:"amount"`
}

type evOrderShipped struct {
	OrderID string `json:"order_id"`
	Carrier string `json:"carrier"`
}

var (
	evPlaced   = contracts.Event[evOrderPlaced]{Stream: evStream, Domain: "evtest", Name: "order_placed", Version: 1}
	evShipped  = contracts.Event[evOrderShipped]{Stream: evStream, Domain: "evtest", Name: "order_shipped", Version: 1}
	evRefunded = contracts.Event[evOrderPlaced]{Stream: evStream, Domain: "evtest", Name: "order_refunded", Version: 1}
	// evPlacedV2 is what a newer producer of order_placed emits.
	evPlacedV2 = contracts.Event[evOrderPlaced]{Stream: evStream, Domain: "evtest", Name: "order_placed", Version: 2}
)

// evRuntime is a runtime on a fresh server with the test stream and the dead-letter stream.
func evRuntime(t *testing.T) *bus.Runtime {
	t.Helper()
	rt := newRuntime(t, startNATS(t))
	if err := rt.EnsureStreams(context.Background(), evStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	return rt
}

func evStreamInfo(t *testing.T, rt *bus.Runtime, name string) (jetstream.StreamConfig, jetstream.StreamState, time.Time) {
	t.Helper()
	st, err := rt.JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.Config, info.State, info.Created
}

func TestEnsureStreamsCreatesThenUpdatesIdempotently(t *testing.T) {
	rt := newRuntime(t, startNATS(t))
	ctx := context.Background()
	spec := evStream
	for i := 0; i < 2; i++ {
		if err := rt.EnsureStreams(ctx, spec); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	cfg, _, created := evStreamInfo(t, rt, spec.Name)
	if cfg.MaxAge != time.Hour || cfg.Duplicates != 10*time.Minute || cfg.Storage != jetstream.FileStorage ||
		cfg.Retention != jetstream.LimitsPolicy || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "evt.evtest.>" {
		t.Fatalf("server config does not match the declaration: %+v", cfg)
	}
	if cfg.Replicas != 1 {
		t.Fatalf("replicas = %d on a single server, want the declared 3 capped to 1", cfg.Replicas)
	}

	// A message stored before the update must survive it: update, never delete and recreate.
	if _, err := bus.Emit(ctx, rt, "test", evPlaced, "o1", evOrderPlaced{OrderID: "o1", Amount: 5}); err != nil {
		t.Fatal(err)
	}
	spec.MaxAge = 2 * time.Hour
	spec.Description = "changed"
	if err := rt.EnsureStreams(ctx, spec); err != nil {
		t.Fatal(err)
	}
	cfg, state, created2 := evStreamInfo(t, rt, spec.Name)
	if cfg.MaxAge != 2*time.Hour || cfg.Description != "changed" {
		t.Fatalf("update not applied: max age %v, description %q", cfg.MaxAge, cfg.Description)
	}
	if state.Msgs != 1 || !created2.Equal(created) {
		t.Fatalf("the stream was recreated: %d messages, created %v then %v", state.Msgs, created, created2)
	}
}

// Every instance of every service runs EnsureStreams at start, at the same time.
func TestEnsureStreamsConcurrentStarts(t *testing.T) {
	url := startNATS(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		rt := newRuntime(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- rt.EnsureStreams(context.Background(), evStream, contracts.StreamDeadLetter)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent EnsureStreams: %v", err)
		}
	}
}

func TestEnsureStreamsMapsStorageAndRetention(t *testing.T) {
	rt := newRuntime(t, startNATS(t))
	spec := contracts.StreamSpec{Name: "WORK", Subjects: []string{"work.>"}, Storage: contracts.MemoryStorage,
		Retention: contracts.WorkQueueRetention, MaxAge: time.Minute, Duplicates: time.Second}
	if err := rt.EnsureStreams(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := evStreamInfo(t, rt, "WORK")
	if cfg.Storage != jetstream.MemoryStorage || cfg.Retention != jetstream.WorkQueuePolicy || cfg.Duplicates != time.Second {
		t.Fatalf("config %+v", cfg)
	}
}

func TestPublishIsDeduplicatedByEventID(t *testing.T) {
	rt := evRuntime(t)
	ctx := context.Background()
	env, subject, err := bus.NewEnvelope(ctx, nil, "orders", evPlaced, "o-42", evOrderPlaced{OrderID: "o-42", Amount: 1200})
	if err != nil {
		t.Fatal(err)
	}
	if subject != "evt.evtest.order_placed.o-42" || env.Type != "evtest.order_placed" || env.Key != "o-42" ||
		env.SchemaVersion != 1 || env.Source != "orders" || env.ID == "" || env.OccurredAt.IsZero() {
		t.Fatalf("envelope %+v on %s", env, subject)
	}
	first, err := rt.Publish(ctx, subject, env)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || first.Stream != evStream.Name {
		t.Fatalf("first publish: %+v", first)
	}
	// The outbox relay re-publishes after a crash between publish and marking the row sent.
	again, err := rt.Publish(ctx, subject, env)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Sequence != first.Sequence {
		t.Fatalf("re-publish of the same envelope: %+v, want a duplicate of sequence %d", again, first.Sequence)
	}
	_, state, _ := evStreamInfo(t, rt, evStream.Name)
	if state.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", state.Msgs)
	}

	st, _ := rt.JetStream().Stream(ctx, evStream.Name)
	raw, err := st.GetMsg(ctx, first.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Header.Get(jetstream.MsgIDHeader); got != env.ID {
		t.Errorf("Nats-Msg-Id = %q, want the envelope id %q", got, env.ID)
	}
	if got := raw.Header.Get(bus.HeaderEventType); got != env.Type {
		t.Errorf("%s = %q", bus.HeaderEventType, got)
	}
	var stored contracts.Envelope
	if err := json.Unmarshal(raw.Data, &stored); err != nil || stored.ID != env.ID {
		t.Fatalf("stored body %s: %v", raw.Data, err)
	}
	var data evOrderPlaced
	if err := json.Unmarshal(stored.Data, &data); err != nil || data != (evOrderPlaced{OrderID: "o-42", Amount: 1200}) {
		t.Fatalf("stored data %s: %v", stored.Data, err)
	}

	// A fresh Emit of the same data is a new event with a new id.
	e2, err := bus.Emit(ctx, rt, "orders", evPlaced, "o-42", data)
	if err != nil {
		t.Fatal(err)
	}
	if e2.ID == env.ID {
		t.Fatal("two emits share an event id")
	}
	if _, state, _ = evStreamInfo(t, rt, evStream.Name); state.Msgs != 2 {
		t.Fatalf("stream holds %d messages after a second emit, want 2", state.Msgs)
	}
}

func TestEmitRejectsUnsafeKeysAndReportsMissingStreams(t *testing.T) {
	rt := evRuntime(t)
	ctx := context.Background()
	for _, key := range []string{"", "a.b", "*", ">", "a b"} {
		if _, err := bus.Emit(ctx, rt, "orders", evPlaced, key, evOrderPlaced{}); !errors.Is(err, contracts.ErrInvalidSubject) {
			t.Errorf("Emit with key %q: %v, want invalid_subject_token", key, err)
		}
	}
	if _, state, _ := evStreamInfo(t, rt, evStream.Name); state.Msgs != 0 {
		t.Fatalf("%d messages stored by rejected emits", state.Msgs)
	}
	// No stream covers this subject: the publisher must hear it, not believe it was stored.
	orphan := contracts.Event[evOrderPlaced]{Domain: "nostream", Name: "x", Version: 1}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := bus.Emit(ctx, rt, "orders", orphan, "k", evOrderPlaced{}); !errors.Is(err, contracts.ErrUnavailable) {
		t.Fatalf("Emit with no stream: %v, want unavailable", err)
	}
}

// evConsumerInfo returns the durable's state on the server.
func evConsumerInfo(t *testing.T, rt *bus.Runtime, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := rt.JetStream().Consumer(context.Background(), evStream.Name, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// evSettled reports whether the durable has handled every message of the stream: nothing
// pending, nothing waiting for an ack.
func evSettled(t *testing.T, rt *bus.Runtime, durable string, total uint64) bool {
	info := evConsumerInfo(t, rt, durable)
	return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= total
}

// evDeadLetters returns the dead letters of durable on the test stream.
func evDeadLetters(t *testing.T, rt *bus.Runtime, durable string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := rt.JetStream().Stream(ctx, contracts.StreamDeadLetter.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(bus.DeadLetterSubject(evStream.Name, durable)))
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == bus.DeadLetterSubject(evStream.Name, durable) {
			out = append(out, m)
		}
	}
	return out
}

func TestConsumerGivesEachMessageItsOwnContext(t *testing.T) {
	rt := evRuntime(t)
	ctx := context.Background()
	const n = 5
	var mu sync.Mutex
	var ctxs []context.Context
	handler := bus.OnEvent(evPlaced, func(ctx context.Context, e bus.Event[evOrderPlaced]) error {
		if _, ok := ctx.Deadline(); !ok {
			return bus.Permanent(errors.New("handler context has no deadline"))
		}
		if ctx.Err() != nil {
			return bus.Permanent(fmt.Errorf("handler context is already done: %w", ctx.Err()))
		}
		mu.Lock()
		ctxs = append(ctxs, ctx)
		mu.Unlock()
		return nil
	})
	_, err := rt.Consume(ctx, "orders", contracts.ConsumerSpec{Stream: evStream, Durable: "ctx_per_msg",
		FilterSubjects: []string{evPlaced.Filter()}}, handler, bus.WithConcurrency(3), bus.WithHandlerTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := bus.Emit(ctx, rt, "orders", evPlaced, "o"+strconv.Itoa(i), evOrderPlaced{OrderID: "o", Amount: i}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() bool { return evSettled(t, rt, "ctx_per_msg", n) }, "all messages acked")
	if info := evConsumerInfo(t, rt, "ctx_per_msg"); info.Config.AckPolicy != jetstream.AckExplicitPolicy || info.Config.Durable != "ctx_per_msg" {
		t.Fatalf("consumer is not a durable with explicit acks: %+v", info.Config)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ctxs) != n {
		t.Fatalf("handler ran %d times for %d messages", len(ctxs), n)
	}
	for i := range ctxs {
		for j := i + 1; j < len(ctxs); j++ {
			if ctxs[i] == ctxs[j] {
				t.Fatalf("messages %d and %d shared one context", i, j)
			}
		}
	}
	// A message's context ends with its handler, so work it started cannot outlive the ack.
	for i, c := range ctxs {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("context of message %d is still live after its handler returned", i)
		}
	}
	if dl := evDeadLetters(t, rt, "ctx_per_msg"); len(dl) != 0 {
		t.Fatalf("%d dead letters: %s", len(dl), dl[0].Header.Get(bus.HeaderDLQError))
	}
}

// evAttempts records the handler runs of one consumer.
type evAttempts struct {
	mu         sync.Mutex
	at         []time.Time
	deliveries []uint64
}

func (a *evAttempts) record(m *bus.Msg) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = append(a.at, time.Now())
	a.deliveries = append(a.deliveries, m.Deliveries)
}

func (a *evAttempts) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

func TestFailingMessageIsRedeliveredWithBackoffUpToMaxDeliver(t *testing.T) {
	backoff := []time.Duration{150 * time.Millisecond, 300 * time.Millisecond}
	for _, mode := range []struct {
		name string
		opts []bus.ConsumeOption
	}{
		{"unkeyed", nil},
		{"keyed", []bus.ConsumeOption{bus.WithKey(bus.SubjectKey)}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			rt := evRuntime(t)
			ctx := context.Background()
			durable := "retry_" + mode.name
			var a evAttempts
			h := func(ctx context.Context, m *bus.Msg) ([]byte, error) {
				a.record(m)
				return nil, errors.New("database is down") // transient: not permanent, not invalid
			}
			_, err := rt.Consume(ctx, "orders", contracts.ConsumerSpec{Stream: evStream, Durable: durable,
				FilterSubjects: []string{evPlaced.Filter()}, MaxDeliver: 3, Backoff: backoff, AckWait: 5 * time.Second}, h, mode.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bus.Emit(ctx, rt, "orders", evPlaced, "o1", evOrderPlaced{OrderID: "o1"}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, func() bool { return len(evDeadLetters(t, rt, durable)) == 1 }, "the message to be dead-lettered")
			eventually(t, 10*time.Second, func() bool { return evSettled(t, rt, durable, 1) }, "the consumer to settle")

			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.at) != 3 {
				t.Fatalf("handler ran %d times, want MaxDeliver = 3", len(a.at))
			}
			for i, want := range backoff {
				// A lower bound only: a loaded machine may be slower, never faster.
				if gap := a.at[i+1].Sub(a.at[i]); gap < want-5*time.Millisecond {
					t.Errorf("attempt %d came %v after attempt %d, before the %v backoff", i+2, gap, i+1, want)
				}
			}
			if a.deliveries[0] != 1 {
				t.Errorf("first run sees Deliveries = %d, want 1", a.deliveries[0])
			}
			if mode.name == "unkeyed" && (a.deliveries[1] != 2 || a.deliveries[2] != 3) {
				t.Errorf("redeliveries see Deliveries = %v, want 1 2 3", a.deliveries)
			}
			dl := evDeadLetters(t, rt, durable)[0]
			if got := dl.Header.Get(bus.HeaderDLQDeliveries); got != "3" {
				t.Errorf("dead letter records %s deliveries, want 3", got)
			}
			if got := dl.Header.Get(bus.HeaderDLQSubject); got != "evt.evtest.order_placed.o1" {
				t.Errorf("dead letter records subject %q", got)
			}
		})
	}
}

func TestMessageSucceedingOnRetryIsAckedNotDeadLettered(t *testing.T) {
	rt := evRuntime(t)
	ctx := context.Background()
	var a evAttempts
	h := func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		a.record(m)
		if a.count() < 3 {
			return nil, contracts.ErrUnavailable.Msg("try again")
		}
		return nil, nil
	}
	_, err := rt.Consume(ctx, "orders", contracts.ConsumerSpec{Stream: evStream, Durable: "flaky",
		MaxDeliver: 5, Backoff: []time.Duration{20 * time.Millisecond}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Emit(ctx, rt, "orders", evPlaced, "o1", evOrderPlaced{OrderID: "o1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return a.count() >= 3 && evSettled(t, rt, "flaky", 1) }, "the third attempt to be acked")
	if n := a.count(); n != 3 {
		t.Fatalf("handler ran %d times, want 3", n)
	}
	if dl := evDeadLetters(t, rt, "flaky"); len(dl) != 0 {
		t.Fatalf("a message that succeeded was dead-lettered")
	}
}

func TestPermanentFailuresAreDeadLetteredAtOnce(t *testing.T) {
	rt := evRuntime(t)
	ctx := context.Background()
	var a evAttempts
	var called sync.Map // order id -> true: the typed handler ran
	h := bus.OnEvent(evPlaced, func(ctx context.Context, e bus.Event[evOrderPlaced]) error {
		a.record(e.Msg)
		called.Store(e.Data.OrderID, true)
		switch e.Data.OrderID {
		case "invalid":
			return contracts.ErrValidation.OnField("amount", "amount must be positive")
		case "permanent":
			return bus.Permanent(errors.New("the order references a deleted product"))
		}
		return nil
	})
	_, err := rt.Consume(ctx, "orders", contracts.ConsumerSpec{Stream: evStream, Durable: "strict",
		FilterSubjects: []string{evPlaced.Filter()}, MaxDeliver: 5, Backoff: []time.Duration{time.Second}}, h)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(body []byte, typ string) {
		t.Helper()
		m := nats.NewMsg("evt.evtest.order_placed.k")
		m.Data = body
		m.Header.Set(bus.HeaderEventType, typ)
		if _, err := rt.JetStream().PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	publish([]byte("this is not json"), evPlaced.Type())
	publish([]byte(`{"id":"x","type":"evtest.order_placed","schema_version":1,"data":{"order_id":7}}`), evPlaced.Type())
	v2, _, err := bus.NewEnvelope(ctx, nil, "orders", evPlacedV2, "k", evOrderPlaced{OrderID: "from-the-future"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Publish(ctx, "evt.evtest.order_placed.k", v2); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"invalid", "permanent", "fine"} {
		if _, err := bus.Emit(ctx, rt, "orders", evPlaced, "k", evOrderPlaced{OrderID: id}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() bool { return evSettled(t, rt, "strict", 6) }, "every message to be settled")
	dl := evDeadLetters(t, rt, "strict")
	if len(dl) != 5 {
		t.Fatalf("%d dead letters, want 5 (bad JSON, bad data, newer version, invalid, permanent)", len(dl))
	}
	for _, m := range dl {
		if got := m.Header.Get(bus.HeaderDLQDeliveries); got != "1" {
			t.Errorf("dead letter of seq %s after %s deliveries, want 1: %s", m.Header.Get(bus.HeaderDLQSequence), got, m.Header.Get(bus.HeaderDLQError))
		}
	}
	for i, code := range []string{"bad_request", "bad_request", "bad_request", "validation_failed", "internal"} {
		if got := dl[i].Header.Get(bus.HeaderDLQErrorCode); got != code {
			t.Errorf("dead letter %d has code %q, want %q (%s)", i, got, code, dl[i].Header.Get(bus.HeaderDLQError))
		}
	}
	if _, ok := called.Load("from-the-future"); ok {
		t.Error("the handler ran for a schema version newer than it knows")
	}
	if n := a.count(); n != 3 {
		t.Errorf("typed handler ran %d times, want 3 (bodies that do not decode never reach it)", n)
	}
}

func TestEventMuxRoutesByTypeAndSkipsUnknownTypes(t *testing.T) {
	rt := evRuntime(t)
	ctx := context.Background()
	var mu sync.Mutex
	var placed []evOrderPlaced
	var shipped []evOrderShipped
	mux := bus.NewEventMux()
	bus.On(mux, evPlaced, func(ctx context.Context, e bus.Event[evOrderPlaced]) error {
		mu.Lock()
		defer mu.Unlock()
		if e.Type != evPlaced.Type() || e.Key != "o1" {
			return bus.Permanent(fmt.Errorf("placed handler got %s for %s", e.Type, e.Key))
		}
		placed = append(placed, e.Data)
		return nil
	})
	bus.On(mux, evShipped, func(ctx context.Context, e bus.Event[evOrderShipped]) error {
		mu.Lock()
		defer mu.Unlock()
		shipped = append(shipped, e.Data)
		return nil
	})
	_, err := rt.Consume(ctx, "orders", contracts.ConsumerSpec{Stream: evStream, Durable: "mux"}, mux.Handler(), bus.WithKey(bus.SubjectKey))
	if err != nil {
		t.Fatal(err)
	}
	emitted := func(_ contracts.Envelope, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	emitted(bus.Emit(ctx, rt, "orders", evPlaced, "o1", evOrderPlaced{OrderID: "o1", Amount: 3}))
	emitted(bus.Emit(ctx, rt, "orders", evRefunded, "o1", evOrderPlaced{OrderID: "o1", Amount: 3})) // nobody routes it
	emitted(bus.Emit(ctx, rt, "orders", evShipped, "o1", evOrderShipped{OrderID: "o1", Carrier: "cj"}))
	// Without the type header, the mux reads the type from the body.
	env, subject, err := bus.NewEnvelope(ctx, nil, "orders", evShipped, "o2", evOrderShipped{OrderID: "o2", Carrier: "hanjin"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(env)
	if _, err := rt.JetStream().Publish(ctx, subject, body); err != nil {
		t.Fatal(err)
	}

	eventually(t, 10*time.Second, func() bool { return evSettled(t, rt, "mux", 4) }, "every event to be acked")
	mu.Lock()
	defer mu.Unlock()
	if len(placed) != 1 || placed[0] != (evOrderPlaced{OrderID: "o1", Amount: 3}) {
		t.Errorf("placed handler got %+v", placed)
	}
	if len(shipped) != 2 || shipped[0].Carrier != "cj" || shipped[1].Carrier != "hanjin" {
		t.Errorf("shipped handler got %+v", shipped)
	}
	if dl := evDeadLetters(t, rt, "mux"); len(dl) != 0 {
		t.Errorf("the unknown type was dead-lettered instead of skipped: %s", dl[0].Header.Get(bus.HeaderDLQError))
	}
}
