package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/dlq"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// Tests of issue 10: one row that cannot be published must neither stall the outbox nor let
// later rows overtake an earlier one in the stream.

type padded struct {
	N   int    `json:"n"`
	Pad string `json:"pad,omitempty"`
	Ns  []int  `json:"ns,omitempty"`
}

var evPadded = contracts.Event[padded]{Stream: testStream, Domain: "otest", Name: "padded", Version: 1}

// emitOne commits one event with Transact and returns its id.
func emitOne(t testing.TB, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, key string, p padded) string {
	t.Helper()
	var id string
	tx, err := pool.Begin(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	env, err := Emit(ctxT(t, 10*time.Second), tx, "test", evPadded, key, p)
	if err != nil {
		_ = tx.Rollback(context.Background())
		t.Fatal(err)
	}
	id = env.ID
	if err := tx.Commit(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	return id
}

// setStream changes the test stream's configuration (after newRuntime created it).
func setStream(t testing.TB, js jetstream.JetStream, change func(*jetstream.StreamConfig)) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	st, err := js.Stream(ctx, testStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	change(&cfg)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// gauge sums the series of the counter family name in reg.
func counterSum(t testing.TB, reg prometheus.Registerer, name string) float64 {
	t.Helper()
	mfs, err := reg.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// dlqLetters lists the dead letters `moa dlq ls --json` shows.
func dlqLetters(t testing.TB, nc *nats.Conn) []dlq.Letter {
	t.Helper()
	var out bytes.Buffer
	if err := dlq.Run(ctxT(t, 10*time.Second), nc, []string{"ls", "--json"}, &out); err != nil {
		t.Fatalf("moa dlq ls: %v", err)
	}
	var letters []dlq.Letter
	if err := json.Unmarshal(out.Bytes(), &letters); err != nil {
		t.Fatalf("moa dlq ls --json: %v in %q", err, out.String())
	}
	return letters
}

// deadLetterOf returns the dead letter of event id, if the DLQ stream holds one.
func deadLetterOf(t testing.TB, js jetstream.JetStream, id string) (*jetstream.RawStreamMsg, bool) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	st, err := js.Stream(ctx, contracts.StreamDeadLetter.Name)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject("dlq.>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, false
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(bus.HeaderDLQMsgID) == id {
			return m, true
		}
		seq = m.Sequence + 1
	}
}

// (a) An event the server could never take is refused by Emit, with payload_too_large, inside
// the caller's transaction, which stays usable.
func TestEmitRefusesAnEventAboveTheServersMaxPayload(t *testing.T) {
	const maxPayload = 64 << 10
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t, moatest.WithMaxPayload(maxPayload)).Conn(t))
	startRelay(t, pool, rt, RelayOptions{PollInterval: 20 * time.Millisecond})
	ctx := ctxT(t, 30*time.Second)

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // a no-op once rolled back below
	_, err = Emit(ctx, tx, "test", evPadded, "k", padded{Pad: strings.Repeat("x", maxPayload)})
	if !errors.Is(err, contracts.ErrPayloadTooBig) {
		t.Fatalf("Emit of a %d-byte event on a server taking %d returned %v, want payload_too_large", maxPayload, maxPayload, err)
	}
	// Compact JSON that fits, but whose jsonb text (what the relay publishes: ", " and ": ")
	// does not: refused too.
	ns := make([]int, maxPayload*2/5)
	_, err = Emit(ctx, tx, "test", evPadded, "k", padded{Ns: ns})
	if !errors.Is(err, contracts.ErrPayloadTooBig) {
		t.Fatalf("Emit of an event of %d compact bytes (about %d as jsonb text) returned %v, want payload_too_large", 2*len(ns), 3*len(ns), err)
	}
	// The transaction is untouched: it runs statements and emits, then rolls back cleanly.
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		t.Fatalf("the caller's transaction is broken after the refusal: %v", err)
	}
	if _, err := Emit(ctx, tx, "test", evPadded, "k", padded{N: 1}); err != nil {
		t.Fatalf("Emit after the refusal: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if n := outboxRows(t, pool); n != 0 {
		t.Fatalf("%d outbox rows after the rollback, want 0", n)
	}

	// With Transact: the error comes back coded, nothing commits.
	err = Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := Emit(ctx, tx, "test", evPadded, "k", padded{Pad: strings.Repeat("y", maxPayload-100)})
		return err
	})
	if ce := contracts.AsError(err); ce == nil || ce.Code != "payload_too_large" {
		t.Fatalf("Transact returned %v, want code payload_too_large", err)
	}
	// One that fits (with room for the headers) is accepted and published.
	id := emitOne(t, pool, "k", padded{Pad: strings.Repeat("z", maxPayload-2048)})
	moatest.Eventually(t, 30*time.Second, func() bool { return unpublished(t, pool) == 0 }, "the largest event that fits published")
	if got := streamIDs(t, rt.JetStream()); len(got) != 1 || got[0] != id {
		t.Fatalf("stream holds %v, want [%s]", got, id)
	}
}

// (b) Rows that fail permanently at publish (above the server's max_payload: committed where
// no relay told Emit the limit; above the stream's MaxMsgSize) are dead-lettered: counted,
// listed by `moa dlq`, and the rows after them flow.
func TestPermanentlyFailingRowsAreDeadLetteredAndLaterRowsFlow(t *testing.T) {
	const maxPayload = 32 << 10
	pool := newPool(t, moatest.Postgres(t))
	nc := moatest.NATS(t, moatest.WithMaxPayload(maxPayload)).Conn(t)
	rt := newRuntime(t, nc)
	setStream(t, rt.JetStream(), func(c *jetstream.StreamConfig) { c.MaxMsgSize = 8 << 10 })

	e0 := emitOne(t, pool, "k", padded{N: 0})
	tooBigForServer := emitOne(t, pool, "k", padded{N: 1, Pad: strings.Repeat("s", maxPayload)})
	e2 := emitOne(t, pool, "k", padded{N: 2})
	tooBigForStream := emitOne(t, pool, "k", padded{N: 3, Pad: strings.Repeat("m", 12<<10)})
	e4 := emitOne(t, pool, "k", padded{N: 4})
	e5 := emitOne(t, pool, "k", padded{N: 5})

	r := startRelay(t, pool, rt, RelayOptions{Name: "stalltest", PollInterval: 20 * time.Millisecond})
	want := []string{e0, e2, e4, e5}
	moatest.Eventually(t, 30*time.Second, func() bool { return len(streamIDs(t, rt.JetStream())) >= len(want) },
		"the rows after the unpublishable ones published")
	if got := streamIDs(t, rt.JetStream()); !slices.Equal(got, want) {
		t.Fatalf("stream holds %v, want %v", got, want)
	}
	if n := counterSum(t, rt.Registry(), "moa_outbox_dead_lettered_total"); n != 2 {
		t.Fatalf("moa_outbox_dead_lettered_total = %v, want 2", n)
	}
	_ = r

	letters := dlqLetters(t, nc)
	if len(letters) != 2 {
		t.Fatalf("moa dlq ls lists %d letters, want 2: %+v", len(letters), letters)
	}
	for i, id := range []string{tooBigForServer, tooBigForStream} {
		l := letters[i]
		if l.Stream != "outbox" || l.Consumer != "stalltest" || l.Subject != evPadded.Subject("k") || l.Code != "payload_too_large" {
			t.Fatalf("dead letter %d = %+v, want stream outbox, consumer stalltest, subject %s, code payload_too_large", i, l, evPadded.Subject("k"))
		}
		m, ok := deadLetterOf(t, rt.JetStream(), id)
		if !ok {
			t.Fatalf("no dead letter carries event id %s", id)
		}
		t.Logf("dead letter of %s: %d body bytes, error %q", id, len(m.Data), m.Header.Get(bus.HeaderDLQError))
	}
	// The one the dead-letter stream can hold keeps its envelope; replaying it (once the stream
	// takes it) goes to every consumer, not to one.
	m, _ := deadLetterOf(t, rt.JetStream(), tooBigForStream)
	var env contracts.Envelope
	if err := json.Unmarshal(m.Data, &env); err != nil || env.ID != tooBigForStream {
		t.Fatalf("dead letter body is not the envelope of %s: %v", tooBigForStream, err)
	}
	rm, err := dlq.ReplayMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	if rm.Subject != evPadded.Subject("k") || rm.Header.Get(bus.HeaderReplayFor) != "" {
		t.Fatalf("replay goes to %s for %q, want %s for every consumer", rm.Subject, rm.Header.Get(bus.HeaderReplayFor), evPadded.Subject("k"))
	}
	bodyless, _ := deadLetterOf(t, rt.JetStream(), tooBigForServer)
	if _, err := dlq.ReplayMsg(bodyless); !errors.Is(err, contracts.ErrValidation) {
		t.Fatalf("replay of a dead letter without its body: %v, want validation_failed", err)
	}
	var dead int
	if err := pool.QueryRow(ctxT(t, 10*time.Second), `SELECT count(*) FROM moa_outbox WHERE dead_at IS NOT NULL AND published_at IS NULL`).Scan(&dead); err != nil || dead != 2 {
		t.Fatalf("%d rows marked dead (%v), want 2", dead, err)
	}
}

// (c) A middle row of one key fails (the stream's MaxMsgSize), then the stream is fixed: the
// stream still holds that key's events in id order (the failed row was dead-lettered, not
// appended after its successors).
func TestMiddleRowFailingKeepsTheKeysOrderInTheStream(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	nc := moatest.NATS(t).Conn(t)
	rt := newRuntime(t, nc)
	js := rt.JetStream()
	setStream(t, js, func(c *jetstream.StreamConfig) { c.MaxMsgSize = 8 << 10 })
	ids := []string{
		emitOne(t, pool, "k", padded{N: 0}),
		emitOne(t, pool, "k", padded{N: 1, Pad: strings.Repeat("m", 12<<10)}),
		emitOne(t, pool, "k", padded{N: 2}),
		emitOne(t, pool, "k", padded{N: 3}),
	}
	startRelay(t, pool, rt, RelayOptions{BatchSize: 16, PollInterval: 20 * time.Millisecond})
	moatest.Eventually(t, 30*time.Second, func() bool { return len(streamIDs(t, js)) >= 3 }, "three of the four rows published")
	setStream(t, js, func(c *jetstream.StreamConfig) { c.MaxMsgSize = -1 })
	moatest.Eventually(t, 30*time.Second, func() bool {
		_, dead := deadLetterOf(t, js, ids[1])
		return len(streamIDs(t, js)) == 4 || dead && len(streamIDs(t, js)) == 3
	}, "the failed row published or dead-lettered")
	assertIDOrder(t, streamIDs(t, js), ids)
}

// (c) The same with a transient failure of the middle row (its subject is full, DiscardNew
// per subject): the rows after it must wait for it, not overtake it.
func TestTransientMiddleFailureKeepsTheKeysOrderInTheStream(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	nc := moatest.NATS(t).Conn(t)
	rt := newRuntime(t, nc)
	js := rt.JetStream()
	setStream(t, js, func(c *jetstream.StreamConfig) {
		c.MaxMsgsPerSubject, c.Discard, c.DiscardNewPerSubject = 3, jetstream.DiscardNew, true
	})
	full := evFollowed.Subject("k")
	for i := range 3 {
		if _, err := js.Publish(ctxT(t, 10*time.Second), full, []byte(`{}`), jetstream.WithMsgID(fmt.Sprint("fill-", i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx := ctxT(t, 30*time.Second)
	var ids []string
	emit := func(ev func(ctx context.Context, tx pgx.Tx) (contracts.Envelope, error)) {
		if err := Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			env, err := ev(ctx, tx)
			ids = append(ids, env.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	happen := func(n int) func(ctx context.Context, tx pgx.Tx) (contracts.Envelope, error) {
		return func(ctx context.Context, tx pgx.Tx) (contracts.Envelope, error) {
			return Emit(ctx, tx, "test", evHappened, "k", happened{N: n})
		}
	}
	emit(happen(0))
	emit(func(ctx context.Context, tx pgx.Tx) (contracts.Envelope, error) {
		return Emit(ctx, tx, "test", evFollowed, "k", followed{N: 1}) // its subject is full
	})
	emit(happen(2))
	emit(happen(3))
	r := startRelay(t, pool, rt, RelayOptions{BatchSize: 16, PollInterval: 20 * time.Millisecond})
	moatest.Eventually(t, 30*time.Second, func() bool { return r.failures.Load() >= 2 }, "the relay failing on the full subject")
	st, err := js.Stream(ctx, testStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(full)); err != nil {
		t.Fatal(err)
	}
	r.Notify()
	moatest.Eventually(t, 30*time.Second, func() bool { return unpublished(t, pool) == 0 }, "every row published once the subject has room")
	assertIDOrder(t, streamIDs(t, js), ids)
	if len(dlqLettersOrNone(t, nc)) != 0 {
		t.Fatalf("a full subject is transient, yet something was dead-lettered")
	}
}

func dlqLettersOrNone(t testing.TB, nc *nats.Conn) []dlq.Letter {
	t.Helper()
	var out bytes.Buffer
	if err := dlq.Run(ctxT(t, 10*time.Second), nc, []string{"ls", "--json"}, &out); err != nil {
		return nil
	}
	var letters []dlq.Letter
	_ = json.Unmarshal(out.Bytes(), &letters)
	return letters
}

// assertIDOrder checks that the events of ids (in id order) that the stream holds come in that
// order.
func assertIDOrder(t testing.TB, stream, ids []string) {
	t.Helper()
	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	var got []int
	for _, id := range stream {
		if p, ok := pos[id]; ok {
			got = append(got, p)
		}
	}
	if !slices.IsSorted(got) {
		t.Fatalf("the stream holds the key's events in the order %v (row numbers), want id order", got)
	}
	t.Logf("stream order (row numbers): %v", got)
}
