package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// streamIDs reads every message of the test stream and returns the Nats-Msg-Id of each, in
// stream order.
func streamIDs(t testing.TB, js jetstream.JetStream) []string {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	st, err := js.Stream(ctx, testStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Migrate(ctxT(t, time.Minute), pool)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"moa_outbox", "moa_inbox", VersionTable} {
		var ok bool
		if err := pool.QueryRow(ctxT(t, 10*time.Second), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Fatalf("table %s missing (%v)", table, err)
		}
	}
}

func TestRelayPublishesInIDOrderWithEventIDAsMsgID(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	ids := emitN(t, pool, 0, 300) // more than a batch
	r := startRelay(t, pool, rt, RelayOptions{BatchSize: 128})
	moatest.Eventually(t, 30*time.Second, func() bool { return unpublished(t, pool) == 0 }, "every row published")
	got := streamIDs(t, rt.JetStream())
	if len(got) != len(ids) {
		t.Fatalf("stream has %d messages, want %d", len(got), len(ids))
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("stream message %d has Nats-Msg-Id %s, want event id %s (id order)", i, got[i], ids[i])
		}
	}
	if r.Published() != int64(len(ids)) {
		t.Fatalf("relay counted %d published, want %d", r.Published(), len(ids))
	}
	t.Logf("published=%d stream=%d unpublished=0", r.Published(), len(got))
}

func TestRolledBackTransactionEmitsNothing(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	startRelay(t, pool, rt, RelayOptions{PollInterval: 20 * time.Millisecond})
	boom := errors.New("state change failed")
	err := Transact(ctxT(t, 10*time.Second), pool, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := Emit(ctx, tx, "test", evHappened, "k", happened{N: 1}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Transact returned %v, want the callback's error", err)
	}
	ids := emitN(t, pool, 2, 1) // a committed one after it, to know the relay has run
	moatest.Eventually(t, 30*time.Second, func() bool { return unpublished(t, pool) == 0 }, "the committed event published")
	got := streamIDs(t, rt.JetStream())
	if len(got) != 1 || got[0] != ids[0] {
		t.Fatalf("stream holds %v, want only the committed event %s", got, ids[0])
	}
}

func TestEmitRejectsUnsafeKey(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	err := Transact(ctxT(t, 10*time.Second), pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := Emit(ctx, tx, "test", evHappened, "a.b", happened{})
		return err
	})
	if !errors.Is(err, contracts.ErrInvalidSubject) {
		t.Fatalf("got %v, want %s", err, contracts.ErrInvalidSubject.Code)
	}
	var n int
	if err := pool.QueryRow(ctxT(t, 10*time.Second), `SELECT count(*) FROM moa_outbox`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("outbox has %d rows (%v), want none", n, err)
	}
}

// The bigserial-offset bug: ids are taken at insert and committed in another order. A relay
// that remembered "published up to id N" would skip the row committed late. This one does not.
func TestRelayNeverSkipsRowsCommittedOutOfIDOrder(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	ctx := ctxT(t, time.Minute)

	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background()) //nolint:errcheck
	// The slow transaction takes the lower id.
	early, err := Emit(ctx, slow, "test", evHappened, "k", happened{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	later := emitN(t, pool, 2, 1)[0] // higher id, committed first
	startRelay(t, pool, rt, RelayOptions{PollInterval: 50 * time.Millisecond})
	moatest.Eventually(t, 30*time.Second, func() bool { return len(streamIDs(t, rt.JetStream())) == 1 }, "the later row published")
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	Wake(pool)
	moatest.Eventually(t, 30*time.Second, func() bool { return len(streamIDs(t, rt.JetStream())) == 2 }, "the row committed late published too")
	got := streamIDs(t, rt.JetStream())
	if got[0] != later {
		t.Fatalf("first published %s, want %s", got[0], later)
	}
	if got[1] != early.ID {
		t.Fatalf("second published %s, want the late commit %s", got[1], early.ID)
	}
}

// With the poll fallback an hour away and no in-process signal (the writer is a plain
// transaction, as from another process), only NOTIFY can wake the relay.
func TestRelayWakesOnNotify(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	r := startRelay(t, pool, rt, RelayOptions{PollInterval: time.Hour})
	moatest.Eventually(t, 30*time.Second, r.listening.Load, "relay LISTENing")
	ctx := ctxT(t, time.Minute)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Emit(ctx, tx, "test", evHappened, "k", happened{N: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return unpublished(t, pool) == 0 }, "row published after NOTIFY")
}

// A relay woken while another one holds the batch lock waits for that batch to end instead of
// sleeping until a retry or the poll: the other relay may not know of the row (the commit woke
// only this process's relays), so a sleep would be a poll delay on every collision. The test
// holds the lock as another relay would, sees this relay queued on it in pg_locks, and then
// releases it; the poll is an hour away.
func TestRelayWaitsForTheBatchLockOfAnotherRelay(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	ctx := ctxT(t, time.Minute)
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, relayLock); err != nil {
		t.Fatal(err)
	}
	startRelay(t, pool, rt, RelayOptions{PollInterval: time.Hour})
	emitN(t, pool, 0, 1)
	moatest.Eventually(t, 20*time.Second, func() bool {
		var waiting int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid = $1 AND objid = $2 AND objsubid = 1`, int64(uint32(relayLock>>32)), int64(relayLock&0xffffffff)).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		return waiting > 0
	}, "relay waiting for the batch lock")
	if n := unpublished(t, pool); n != 1 {
		t.Fatalf("%d rows unpublished while another relay holds the lock, want 1", n)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return unpublished(t, pool) == 0 }, "row published once the lock is free")
}

func TestSeveralRelaysPublishEachRowOnceInOrder(t *testing.T) {
	url := moatest.Postgres(t)
	n := moatest.NATS(t)
	pool := newPool(t, url)
	rt := newRuntime(t, n.Conn(t))
	var relays []*Relay
	for i := range 3 {
		p := newPool(t, url) // as if from three processes
		relays = append(relays, startRelay(t, p, newRuntime(t, n.Conn(t)), RelayOptions{Name: "r" + strconv.Itoa(i), BatchSize: 50, PollInterval: 20 * time.Millisecond}))
	}
	ids := emitN(t, pool, 0, 600)
	moatest.Eventually(t, time.Minute, func() bool { return unpublished(t, pool) == 0 }, "every row published")
	got := streamIDs(t, rt.JetStream())
	if len(got) != len(ids) {
		t.Fatalf("stream has %d messages, want %d", len(got), len(ids))
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("stream message %d is %s, want %s: relays interleaved out of id order", i, got[i], ids[i])
		}
	}
	var total int64
	for _, r := range relays {
		total += r.Published()
	}
	t.Logf("published by relays: %d, %d, %d (total %d, stream %d)", relays[0].Published(), relays[1].Published(), relays[2].Published(), total, len(got))
	if total != int64(len(ids)) {
		t.Fatalf("relays marked %d rows in total, want %d (a row taken twice)", total, len(ids))
	}
}

func TestRetentionDeletesPublishedRows(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	emitN(t, pool, 0, 20)
	startRelay(t, pool, rt, RelayOptions{Retention: 10 * time.Millisecond, CleanupInterval: 50 * time.Millisecond})
	moatest.Eventually(t, 30*time.Second, func() bool {
		var n int
		_ = pool.QueryRow(ctxT(t, 5*time.Second), `SELECT count(*) FROM moa_outbox`).Scan(&n)
		return n == 0
	}, "published rows deleted after retention")
	if got := len(streamIDs(t, rt.JetStream())); got != 20 {
		t.Fatalf("stream has %d events, want 20", got)
	}
}

func TestRetentionKeepsUnpublishedRows(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	emitN(t, pool, 0, 3)
	// No NATS stream for the subject: nothing can be published, so nothing may be deleted.
	nc := moatest.NATS(t).Conn(t)
	rt, err := bus.New(nc, bus.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, pool, rt, RelayOptions{Retention: time.Millisecond, CleanupInterval: 20 * time.Millisecond, PublishTimeout: 200 * time.Millisecond})
	moatest.Eventually(t, 30*time.Second, func() bool { return r.failures.Load() > 0 }, "relay failed a batch")
	r.cleanup()
	if n := unpublished(t, pool); n != 3 {
		t.Fatalf("%d unpublished rows left, want 3", n)
	}
}

func TestEnvelopeSurvivesTheOutbox(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	var env contracts.Envelope
	err := Transact(ctxT(t, 10*time.Second), pool, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		env, err = Emit(ctx, tx, "test-source", evHappened, "key1", happened{N: 42})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, pool, rt, RelayOptions{})
	got := make(chan bus.Event[happened], 1)
	_, err = rt.Consume(ctxT(t, 10*time.Second), "test", contracts.ConsumerSpec{Stream: testStream, Durable: "env"},
		bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error { got <- e; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.ID != env.ID || e.Source != "test-source" || e.Key != "key1" || e.Data.N != 42 || e.Msg.Subject != "evt.otest.happened.key1" ||
			e.Msg.Header.Get(bus.HeaderEventType) != "otest.happened" {
			b, _ := json.Marshal(e.Envelope)
			t.Fatalf("got %s on %s, want the emitted envelope %s", b, e.Msg.Subject, env.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("event not delivered")
	}
}

// Transact with a relay of this process on the pool wakes it directly and sends no NOTIFY;
// without one, it NOTIFYs.
func TestTransactNotifiesOnlyWithoutALocalRelay(t *testing.T) {
	url := moatest.Postgres(t)
	pool := newPool(t, url)
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	ctx := ctxT(t, time.Minute)
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		t.Fatal(err)
	}
	// A NOTIFY arrives within milliseconds; the short wait is only ever the negative answer.
	notifiedWithin := func(d time.Duration) bool {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_, err := listener.WaitForNotification(wctx)
		return err == nil
	}
	notified := func() bool { return notifiedWithin(300 * time.Millisecond) }
	emitN(t, pool, 0, 1)
	if !notifiedWithin(10 * time.Second) {
		t.Fatal("no NOTIFY without a local relay")
	}
	startRelay(t, pool, rt, RelayOptions{PollInterval: time.Hour})
	moatest.Eventually(t, 20*time.Second, func() bool { return unpublished(t, pool) == 0 }, "the first event published")
	for notified() { // drain anything pending
	}
	emitN(t, pool, 1, 1)
	moatest.Eventually(t, 20*time.Second, func() bool { return unpublished(t, pool) == 0 }, "published without NOTIFY or poll")
	if notified() {
		t.Fatal("NOTIFY sent although a relay of this process was woken directly")
	}
}
