package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// A batched inbox applies every event once, in key order, in far fewer transactions than
// events; a handler that fails is rolled back to its savepoint and retried alone while the
// rest of its batch commits, and copies of events are absorbed as duplicates inside batches.
func TestBatchedInboxAppliesEachOnceInKeyOrderAndRetriesAFailureAlone(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	const events, copies = 600, 20
	var envs []contracts.Envelope
	for i := range events {
		env, err := bus.Emit(ctxT(t, 10*time.Second), rt, "test", evHappened, keyOf(i), happened{N: i})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	for i := range copies {
		publishCopy(t, rt.JetStream(), envs[i*events/copies+3], 1)
	}

	var mu sync.Mutex
	attempts := map[string]int{}
	txOf := map[string]int64{} // event id -> top-level transaction of its last successful run
	var failed, dups atomic.Int64
	gate := make(chan struct{}) // closed once the consumer holds a backlog (batches form from it)
	h := bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		attempts[e.ID]++
		first := attempts[e.ID] == 1
		mu.Unlock()
		if err := applyEffect(ctx, e); err != nil {
			return err
		}
		if e.Data.N%37 == 5 && first {
			failed.Add(1)
			return errors.New("transient failure after the effect was written") // rolled back to the savepoint
		}
		var xid int64
		if err := Tx(ctx).QueryRow(ctx, `SELECT txid_current()`).Scan(&xid); err != nil {
			return err
		}
		mu.Lock()
		txOf[e.ID] = xid
		mu.Unlock()
		return nil
	})
	spec := contracts.ConsumerSpec{Stream: testStream, Durable: "batched", Backoff: []time.Duration{10 * time.Millisecond}}
	_, err := rt.Consume(ctxT(t, 10*time.Second), "test", spec, h,
		bus.WithConsumerMiddleware(Inbox(pool, "batched", OnDuplicate(func(context.Context, *bus.Msg, string) { dups.Add(1) }))),
		bus.WithKey(bus.SubjectKey), bus.WithConcurrency(2), Batched(pool, 16))
	if err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool {
		jc, err := rt.JetStream().Consumer(ctxT(t, 5*time.Second), testStream.Name, "batched")
		if err != nil {
			return false
		}
		ci, err := jc.Info(ctxT(t, 5*time.Second))
		return err == nil && ci.NumAckPending >= 256 // the default MaxAckPending: the consumer holds all it may
	}, "a backlog held by the consumer")
	close(gate)
	moatest.Eventually(t, time.Minute, func() bool { return dups.Load() == copies }, "every copy absorbed")
	moatest.Eventually(t, time.Minute, func() bool { total, _ := countEffects(t, pool); return total >= events }, "every event applied")
	total, distinct := countEffects(t, pool)
	if total != events || distinct != events {
		t.Fatalf("effects %d (%d distinct) for %d events", total, distinct, events)
	}
	mu.Lock()
	txs := map[int64]bool{}
	for _, x := range txOf {
		txs[x] = true
	}
	sizes := map[int64]int{}
	for _, x := range txOf {
		sizes[x]++
	}
	hist := map[int]int{}
	for _, n := range sizes {
		hist[n]++
	}
	mu.Unlock()
	t.Logf("batch sizes (size: transactions): %v", hist)
	t.Logf("events=%d copies absorbed=%d failures retried=%d transactions=%d (%.3f per event)",
		events, dups.Load(), failed.Load(), len(txs), float64(len(txs))/events)
	if failed.Load() == 0 {
		t.Fatal("no handler failed: the test did not exercise the savepoint rollback")
	}
	if len(txs) > events/6 {
		t.Fatalf("%d transactions for %d events: the inbox did not batch", len(txs), events)
	}

	// Per key, the effects were written in emit order (keyOf(n) is n mod 16).
	rows, err := pool.Query(ctxT(t, 10*time.Second), `SELECT n FROM effects ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	last := map[int]int{}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[n%16]; ok && prev > n {
			t.Fatalf("key %d: event %d applied after event %d", n%16, n, prev)
		}
		last[n%16] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// The batched consumer dies mid-batch, with its handlers' effects written in their savepoints
// and the batch not committed: none of it is applied, every message comes back, and every
// event is applied exactly once.
func TestCrashBatchedConsumerMidBatch(t *testing.T) {
	crashBatchedConsumer(t, "inbox.batch_before_commit")
}

// The batched consumer dies after a batch committed, before its acks: the batch's messages come
// back and the inbox absorbs them.
func TestCrashBatchedConsumerAfterCommitBeforeAck(t *testing.T) {
	crashBatchedConsumer(t, "inbox.batch_after_commit")
}

func crashBatchedConsumer(t *testing.T, point string) {
	pgURL, srv := moatest.Postgres(t), moatest.NATS(t)
	pool := newPool(t, pgURL)
	createEffects(t, pool)
	rt := newRuntime(t, srv.Conn(t))
	const events = 600
	for i := range events {
		if _, err := bus.Emit(ctxT(t, 10*time.Second), rt, "crash", evHappened, keyOf(i), happened{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	c := spawn(t, "consumer", crashEnv(pgURL, srv, envCrashAt+"="+point, envCrashAfter+"=5", envDurable+"=effects", envBatch+"=16")...)
	c.await("crash "+point, 2*time.Minute)
	c.kill()
	atKill, _ := countEffects(t, pool)

	dups := effectsConsumer(t, rt, pool, "effects")
	moatest.Eventually(t, time.Minute, func() bool { _, d := countEffects(t, pool); return d == events }, "every event applied")
	moatest.Eventually(t, 30*time.Second, func() bool {
		info, err := rt.JetStream().Consumer(ctxT(t, 5*time.Second), testStream.Name, "effects")
		if err != nil {
			return false
		}
		ci, err := info.Info(ctxT(t, 5*time.Second))
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	}, "consumer settled")
	total, distinct := countEffects(t, pool)
	t.Logf("crash at %s: published=%d applied before the kill=%d duplicates absorbed after=%d effects=%d distinct=%d lost=%d",
		point, events, atKill, dups.Load(), total, distinct, events-distinct)
	if atKill == 0 || atKill >= events {
		t.Fatalf("applied %d of %d before the kill: the crash did not land mid-run", atKill, events)
	}
	if point == "inbox.batch_after_commit" && dups.Load() < 1 {
		t.Fatal("no duplicate absorbed: the crash did not land between a batch's commit and its acks")
	}
	if total != events || distinct != events {
		t.Fatalf("effects %d (%d distinct) for %d events", total, distinct, events)
	}
}

// Versioned events of eight keys reach a batched consumer out of order (versions 4, 5, 6
// before 1, 2, 3 of each key): inside batches, the key-version check answers NotYet for the
// early ones, which are rolled back to their savepoints and parked, and every key is applied
// in version order, each event once.
func TestBatchedInboxAppliesVersionedEventsInVersionOrder(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	const keys = 8
	for _, v := range []int64{4, 5, 6, 1, 2, 3} {
		for k := range keys {
			env, subject, err := bus.NewEnvelope(ctxT(t, 10*time.Second), nil, "test", evHappened, "K"+strconv.Itoa(k), happened{N: k*100 + int(v)})
			if err != nil {
				t.Fatal(err)
			}
			body, err := json.Marshal(versionedEnvelope{Envelope: env, KeyVersion: v})
			if err != nil {
				t.Fatal(err)
			}
			m := nats.NewMsg(subject)
			m.Data = body
			m.Header.Set(jetstream.MsgIDHeader, env.ID)
			if _, err := rt.JetStream().PublishMsg(ctxT(t, 10*time.Second), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	gate := make(chan struct{})
	h := bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		return applyEffect(ctx, e)
	})
	spec := contracts.ConsumerSpec{Stream: testStream, Durable: "versions", AckWait: time.Second}
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", spec, h, bus.WithConsumerMiddleware(Inbox(pool, "versions")),
		bus.WithKey(bus.SubjectKey), bus.WithConcurrency(2), Batched(pool, 16)); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool {
		jc, err := rt.JetStream().Consumer(ctxT(t, 5*time.Second), testStream.Name, "versions")
		if err != nil {
			return false
		}
		ci, err := jc.Info(ctxT(t, 5*time.Second))
		return err == nil && ci.NumAckPending == 6*keys
	}, "every event held by the consumer")
	close(gate)
	moatest.Eventually(t, 30*time.Second, func() bool { n, _ := countEffects(t, pool); return n >= 6*keys }, "all applied")
	rows, err := pool.Query(ctxT(t, 10*time.Second), `SELECT n FROM effects ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[int][]int{}
	for _, n := range got {
		perKey[n/100] = append(perKey[n/100], n%100)
	}
	for k := range keys {
		if !slices.Equal(perKey[k], []int{1, 2, 3, 4, 5, 6}) {
			t.Fatalf("key K%d applied in order %v (all: %v)", k, perKey[k], got)
		}
	}
	if len(got) != 6*keys {
		t.Fatalf("%d effects for %d events", len(got), 6*keys)
	}
}
