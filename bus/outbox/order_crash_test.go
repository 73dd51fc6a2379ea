package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// envCrashOnFirst makes the "ordered" consumer child block (to be killed) in the handler of key
// K's event with this n.
const envCrashOnFirst = "MOA_CRASH_ON_N"

// helperOrderedConsumer appends every event it applies to ordered_effects, in the inbox's
// transaction, so the row order is the handling order. With envCrashOnFirst set it stops dead
// inside the handler of that event (its transaction open) for the parent to kill.
func helperOrderedConsumer(ctx context.Context, pool *pgxpool.Pool, rt *bus.Runtime) error {
	crashOn, crash := -1, os.Getenv(envCrashOnFirst) != ""
	if crash {
		crashOn, _ = strconv.Atoi(os.Getenv(envCrashOnFirst))
	}
	durable := os.Getenv(envDurable)
	h := func(ctx context.Context, e bus.Event[happened]) error {
		if crash && e.Key == "K" && e.Data.N == crashOn {
			// A handler that works for a while: the consumer keeps what it holds alive
			// (InProgress) meanwhile, as it would in production, before the kill.
			time.Sleep(2 * crashConsumerSpec(durable).AckWait)
			say("crash handling %d", e.Data.N)
			select {}
		}
		_, err := Tx(ctx).Exec(ctx, `INSERT INTO ordered_effects (key, n) VALUES ($1, $2)`, e.Key, e.Data.N)
		return err
	}
	_, err := rt.Consume(ctx, "crash", crashConsumerSpec(durable), bus.OnEvent(evHappened, h),
		bus.WithConsumerMiddleware(Inbox(pool, durable)), bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4))
	if err != nil {
		return err
	}
	say("ready")
	select {}
}

// Issue 10: the consumer process is killed (SIGKILL) while handling key K's event 0, holding
// K's events 0..10 unacked; 11..20 are emitted while it is down. The restarted consumer gets
// 11..20 at once (never delivered) and 0..10 only when their ack deadlines expire, yet it must
// apply K's events in order 0..20. Two other keys, applied before the kill up to 10, go on
// with 11..20 in order.
func TestCrashKeepsPerKeyOrder(t *testing.T) {
	pgURL, srv := moatest.Postgres(t), moatest.NATS(t)
	pool := newPool(t, pgURL)
	if _, err := pool.Exec(ctxT(t, 10*time.Second), `CREATE TABLE IF NOT EXISTS ordered_effects
		(pos bigserial PRIMARY KEY, key text NOT NULL, n int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, srv.Conn(t))
	const perKey, beforeKill = 21, 11
	keys := []string{"K", "other1", "other2"}
	relay := startRelay(t, pool, rt, RelayOptions{Name: "order", PollInterval: 50 * time.Millisecond})
	emit := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			for _, k := range keys {
				err := Transact(ctxT(t, 10*time.Second), pool, func(ctx context.Context, tx pgx.Tx) error {
					_, err := Emit(ctx, tx, "order", evHappened, k, happened{N: i})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		relay.Notify()
		moatest.Eventually(t, time.Minute, func() bool { return unpublished(t, pool) == 0 }, "the outbox published")
	}
	// Events 0..10 wait in the stream; the consumer takes them all and dies in the handler of
	// K's event 0. The producer goes on meanwhile: 11..20 arrive while no consumer runs.
	emit(0, beforeKill)
	first := spawn(t, "ordered", crashEnv(pgURL, srv, envDurable+"=ordered", envCrashOnFirst+"=0")...)
	first.await("crash handling 0", time.Minute)
	first.kill()
	atKill := orderedEffects(t, pool)
	emit(beforeKill, perKey)

	second := spawn(t, "ordered", crashEnv(pgURL, srv, envDurable+"=ordered")...)
	second.await("ready", time.Minute)
	want := len(keys) * perKey
	moatest.Eventually(t, time.Minute, func() bool {
		n := 0
		for _, v := range orderedEffects(t, pool) {
			n += len(v)
		}
		return n >= want
	}, "all %d events applied", want)
	got := orderedEffects(t, pool)
	t.Logf("applied before the kill: %v; after the restart: K=%v", atKill, got["K"])
	inOrder := make([]int, perKey)
	for i := range inOrder {
		inOrder[i] = i
	}
	var bad []error
	for _, k := range keys {
		if !slices.Equal(got[k], inOrder) {
			bad = append(bad, fmt.Errorf("key %s applied in order %v", k, got[k]))
		}
	}
	if err := errors.Join(bad...); err != nil {
		t.Fatal(err)
	}
}

// orderedEffects returns the n of every applied event per key, in the order applied.
func orderedEffects(t testing.TB, pool *pgxpool.Pool) map[string][]int {
	t.Helper()
	rows, err := pool.Query(ctxT(t, 10*time.Second), `SELECT key, n FROM ordered_effects ORDER BY pos`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = append(out[k], n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
