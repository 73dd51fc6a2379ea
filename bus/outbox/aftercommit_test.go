package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// happenedMsg is event n of key k as a consumer would hand it to the inbox.
func happenedMsg(t *testing.T, k string, n int) *bus.Msg {
	t.Helper()
	env, _, err := bus.NewEnvelope(context.Background(), nil, "test", evHappened, k, happened{N: n})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(env)
	return &bus.Msg{Kind: bus.KindEvent, Subject: evHappened.Subject(k), Header: nats.Header{}, Data: body}
}

// What a handler registers with AfterCommit runs after its transaction committed, and never
// when it rolled back: in Transact, in the inbox, and per message in a batched inbox.
func TestAfterCommitRunsOnlyAfterACommit(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	ctx := ctxT(t, 30*time.Second)

	// Outside any transaction: at once.
	ran := 0
	AfterCommit(ctx, func() { ran++ })
	if ran != 1 {
		t.Fatalf("outside a transaction: ran %d times, want 1", ran)
	}

	// Transact: after the commit; not at all on a rollback.
	ran = 0
	err := Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		AfterCommit(ctx, func() { ran++ })
		if ran != 0 {
			t.Error("ran before the commit")
		}
		return nil
	})
	if err != nil || ran != 1 {
		t.Fatalf("Transact committed: err %v, ran %d times; want 1", err, ran)
	}
	ran = 0
	boom := errors.New("boom")
	if err := Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		AfterCommit(ctx, func() { ran++ })
		return boom
	}); !errors.Is(err, boom) || ran != 0 {
		t.Fatalf("Transact rolled back: err %v, ran %d times; want boom and 0", err, ran)
	}

	// The inbox: a failed handler's callback never runs, a duplicate's handler does not run.
	var counted []int
	h := Inbox(pool, "after")(bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		AfterCommit(ctx, func() { counted = append(counted, e.Data.N) })
		if e.Data.N < 0 {
			return boom
		}
		return applyEffect(ctx, e)
	}))
	good := happenedMsg(t, "a", 1)
	for range 2 { // the second is a duplicate
		if _, err := h(ctx, good); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h(ctx, happenedMsg(t, "a", -1)); !errors.Is(err, boom) {
		t.Fatalf("failing handler: %v", err)
	}
	if !slices.Equal(counted, []int{1}) {
		t.Fatalf("inbox: counted %v, want [1]", counted)
	}

	// A batch: only the messages whose savepoints were kept, and only after the batch commits.
	counted = nil
	b := &inboxBatch{pool: pool}
	bctx := context.WithValue(ctx, batchKey{}, b)
	for i, n := range []int{2, -2, 3} {
		_, err := h(bctx, happenedMsg(t, "b"+strconv.Itoa(i), n))
		if (n < 0) != errors.Is(err, boom) {
			t.Fatalf("batched message %d: %v", n, err)
		}
	}
	if len(counted) != 0 {
		t.Fatalf("batch: counted %v before its commit", counted)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(counted, []int{2, 3}) {
		t.Fatalf("batch: counted %v after its commit, want [2 3]", counted)
	}

	// A batch rolled back: nothing.
	counted = nil
	b = &inboxBatch{pool: pool}
	if _, err := h(context.WithValue(ctx, batchKey{}, b), happenedMsg(t, "c", 4)); err != nil {
		t.Fatal(err)
	}
	b.Rollback(ctx)
	if len(counted) != 0 {
		t.Fatalf("batch rolled back: counted %v", counted)
	}
}
