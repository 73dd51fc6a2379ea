package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// Writers racing on one key get its versions in commit order (which is id order, the order the
// relay publishes in), without holes: a rolled-back event gives its number back.
func TestEmitVersionsEachSubjectInCommitOrder(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	const writers, each = 8, 12
	errRollback := errors.New("rolled back on purpose")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := Transact(ctxT(t, 30*time.Second), pool, func(ctx context.Context, tx pgx.Tx) error {
					for _, key := range []string{"a", "b"} {
						if _, err := Emit(ctx, tx, "v", evHappened, key, happened{N: w*100 + i}); err != nil {
							return err
						}
					}
					if i%3 == 2 {
						return errRollback
					}
					return nil
				})
				if err != nil && !errors.Is(err, errRollback) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, key := range []string{"a", "b"} {
		rows, err := pool.Query(ctxT(t, 10*time.Second), `SELECT envelope FROM moa_outbox WHERE subject = $1 ORDER BY id`, evHappened.Subject(key))
		if err != nil {
			t.Fatal(err)
		}
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			t.Fatal(err)
		}
		var got, want []int64
		for i, b := range bodies {
			var env struct {
				KeyVersion int64 `json:"key_version"`
			}
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatal(err)
			}
			got = append(got, env.KeyVersion)
			want = append(want, int64(i+1))
		}
		if len(got) != writers*each*2/3 || !slices.Equal(got, want) {
			t.Fatalf("key %s: %d events with versions %v in id order, want %d numbered 1..n", key, len(got), got, writers*each*2/3)
		}
	}
}

// An event whose predecessor was dead-lettered must not wait for it forever: the consumer sees
// that nothing of the durable is pending elsewhere, accepts the gap, and the key goes on, in
// order. (A liveness guard of the ordering: the original consumer had nothing to wait for.)
func TestOrderedConsumerMovesPastADeadLetteredEvent(t *testing.T) {
	pgURL, srv := moatest.Postgres(t), moatest.NATS(t)
	pool := newPool(t, pgURL)
	createEffects(t, pool)
	rt := newRuntime(t, srv.Conn(t))
	for i := range 6 {
		err := Transact(ctxT(t, 10*time.Second), pool, func(ctx context.Context, tx pgx.Tx) error {
			_, err := Emit(ctx, tx, "gap", evHappened, "g", happened{N: i, Fail: i == 1})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	startRelay(t, pool, rt, RelayOptions{Name: "gap", PollInterval: 50 * time.Millisecond})
	h := bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		if e.Data.Fail {
			return bus.Permanent(errors.New("poison"))
		}
		return applyEffect(ctx, e)
	})
	spec := contracts.ConsumerSpec{Stream: testStream, Durable: "gap", AckWait: time.Second}
	start := time.Now()
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", spec, h, bus.WithConsumerMiddleware(Inbox(pool, "gap")),
		bus.WithKey(bus.SubjectKey)); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool { n, _ := countEffects(t, pool); return n == 5 }, "the events after the dead letter applied")
	t.Logf("applied past the gap after %v", time.Since(start).Round(time.Millisecond))
	rows, err := pool.Query(ctxT(t, 10*time.Second), `SELECT n FROM effects ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 2, 3, 4, 5}) {
		t.Fatalf("applied %v, want [0 2 3 4 5]", got)
	}
}

// Versioned events of one key that reach the consumer out of version order (stream order
// 4 5 6 1 2 3, as behind a crash that held 1..3) are applied in version order; an unversioned
// event of the same key is not held back by them.
func TestInboxAppliesVersionedEventsInVersionOrder(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	spec := contracts.ConsumerSpec{Stream: testStream, Durable: "versions", AckWait: time.Second}
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", spec, bus.OnEvent(evHappened, applyEffect),
		bus.WithConsumerMiddleware(Inbox(pool, "versions")), bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{4, 5, 6, 1, 2, 3} {
		env, subject, err := bus.NewEnvelope(ctxT(t, 10*time.Second), nil, "test", evHappened, "K", happened{N: int(v)})
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(struct {
			contracts.Envelope
			KeyVersion int64 `json:"key_version"`
		}{env, v})
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
	if _, err := bus.Emit(ctxT(t, 10*time.Second), rt, "test", evHappened, "K", happened{N: 100}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool { n, _ := countEffects(t, pool); return n == 7 }, "all seven applied")
	rows, err := pool.Query(ctxT(t, 10*time.Second), `SELECT n FROM effects ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	versioned := slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n == 100 })
	if !slices.Equal(versioned, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("applied %v, want the versioned ones as 1..6", got)
	}
	t.Logf("applied %v", got)
}
