package outbox

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/dlq"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// A dead letter's event never committed in the failing consumer's inbox (its transaction rolled
// back), so `moa dlq replay` runs it, once; a replay of an event the consumer did commit (say,
// dead-lettered by a sibling instance after the ack was lost) is absorbed.
func TestReplayRunsThroughTheInboxOnce(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	nc := moatest.NATS(t).Conn(t)
	rt := newRuntime(t, nc)
	var broken atomic.Bool
	broken.Store(true)
	var dups atomic.Int64
	h := bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		if err := applyEffect(ctx, e); err != nil {
			return err
		}
		if e.Data.Fail && broken.Load() {
			return bus.Permanent(errors.New("rejected")) // after writing: the rollback must undo it
		}
		return nil
	})
	spec := contracts.ConsumerSpec{Stream: testStream, Durable: "ledger"}
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", spec, h,
		bus.WithConsumerMiddleware(Inbox(pool, "ledger", OnDuplicate(func(context.Context, *bus.Msg, string) { dups.Add(1) })))); err != nil {
		t.Fatal(err)
	}
	poison, err := bus.Emit(ctxT(t, 10*time.Second), rt, "test", evHappened, "k", happened{N: 1, Fail: true})
	if err != nil {
		t.Fatal(err)
	}
	fine, err := bus.Emit(ctxT(t, 10*time.Second), rt, "test", evHappened, "k", happened{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { total, _ := countEffects(t, pool); return total == 1 }, "the fine event applied")
	var out bytes.Buffer
	moatest.Eventually(t, 20*time.Second, func() bool {
		out.Reset()
		return dlq.Run(ctxT(t, 10*time.Second), nc, []string{"ls"}, &out) == nil && strings.Contains(out.String(), "rejected")
	}, "the poison dead-lettered")

	// A second dead letter, for the fine event, as if a sibling had given up on it after the
	// ack was lost.
	m, err := bus.EnvelopeMsg(evHappened.Subject("k"), fine)
	if err != nil {
		t.Fatal(err)
	}
	dl := bus.DeadLetter(testStream.Name, "ledger", m.Subject, 2, m.Header, m.Data, 5, errors.New("ack lost"))
	if _, err := rt.JetStream().PublishMsg(ctxT(t, 10*time.Second), dl); err != nil {
		t.Fatal(err)
	}

	broken.Store(false) // fixed and deployed
	out.Reset()
	if err := dlq.Run(ctxT(t, 10*time.Second), nc, []string{"replay", "--all"}, &out); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { total, _ := countEffects(t, pool); return total == 2 && dups.Load() == 1 }, "the poison applied, the fine event absorbed")
	var runs int
	if err := pool.QueryRow(ctxT(t, 5*time.Second), `SELECT count(*) FROM effects WHERE event_id = $1`, poison.ID).Scan(&runs); err != nil || runs != 1 {
		t.Fatalf("the replayed event applied %d times (%v), want 1", runs, err)
	}
	total, distinct := countEffects(t, pool)
	t.Logf("%sreplayed: effects=%d distinct=%d duplicates absorbed=%d", out.String(), total, distinct, dups.Load())
}
