package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// effects is a deliberately non-idempotent effect: one row per application, no unique key.
func createEffects(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(ctxT(t, 10*time.Second), `CREATE TABLE IF NOT EXISTS effects (id bigserial PRIMARY KEY, event_id text NOT NULL, n int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

func countEffects(t testing.TB, pool *pgxpool.Pool) (total, distinct int) {
	t.Helper()
	if err := pool.QueryRow(ctxT(t, 10*time.Second), `SELECT count(*), count(DISTINCT event_id) FROM effects`).Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	return total, distinct
}

// applyEffect is a handler writing the effect with the inbox's transaction.
func applyEffect(ctx context.Context, e bus.Event[happened]) error {
	tx := Tx(ctx)
	if tx == nil {
		return errors.New("no inbox transaction in context")
	}
	_, err := tx.Exec(ctx, `INSERT INTO effects (event_id, n) VALUES ($1, $2)`, e.ID, e.Data.N)
	return err
}

// publishCopy publishes env again with a fresh Nats-Msg-Id, as a re-publish after the stream's
// duplicate window (or a replay) would.
func publishCopy(t testing.TB, js jetstream.JetStream, env contracts.Envelope, copyN int) {
	t.Helper()
	msg, err := bus.EnvelopeMsg(evHappened.Subject(env.Key), env)
	if err != nil {
		t.Fatal(err)
	}
	msg.Header.Set(jetstream.MsgIDHeader, env.ID+"-copy-"+itoa(copyN))
	if _, err := js.PublishMsg(ctxT(t, 10*time.Second), msg); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestInboxAbsorbsDuplicates(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	var dups atomic.Int64
	_, err := rt.Consume(ctxT(t, 10*time.Second), "test", contracts.ConsumerSpec{Stream: testStream, Durable: "effects"},
		bus.OnEvent(evHappened, applyEffect),
		bus.WithConsumerMiddleware(Inbox(pool, "effects", OnDuplicate(func(context.Context, *bus.Msg, string) { dups.Add(1) }))))
	if err != nil {
		t.Fatal(err)
	}
	var envs []contracts.Envelope
	for i := range 5 {
		env, err := bus.Emit(ctxT(t, 10*time.Second), rt, "test", evHappened, "k", happened{N: i})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	for _, env := range envs[:3] {
		publishCopy(t, rt.JetStream(), env, 1)
		publishCopy(t, rt.JetStream(), env, 2)
	}
	moatest.Eventually(t, 30*time.Second, func() bool { return dups.Load() == 6 }, "6 duplicates absorbed (got %d)", dups.Load())
	total, distinct := countEffects(t, pool)
	t.Logf("delivered=11 effects=%d distinct=%d duplicates absorbed=%d", total, distinct, dups.Load())
	if total != 5 || distinct != 5 {
		t.Fatalf("effects applied %d times for %d events, want 5 and 5", total, distinct)
	}
}

func TestInboxRollsBackTheEffectOfAFailedHandler(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	var calls atomic.Int64
	h := bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		if err := applyEffect(ctx, e); err != nil {
			return err
		}
		if calls.Add(1) < 3 {
			return errors.New("fails after writing its effect")
		}
		return nil
	})
	spec := contracts.ConsumerSpec{Stream: testStream, Durable: "rollback", Backoff: []time.Duration{10 * time.Millisecond}}
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", spec, h, bus.WithConsumerMiddleware(Inbox(pool, "rollback"))); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Emit(ctxT(t, 10*time.Second), rt, "test", evHappened, "k", happened{N: 7}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool { return calls.Load() >= 3 }, "third attempt")
	moatest.Eventually(t, 10*time.Second, func() bool { total, _ := countEffects(t, pool); return total == 1 }, "one effect")
	var inbox int
	if err := pool.QueryRow(ctxT(t, 5*time.Second), `SELECT count(*) FROM moa_inbox WHERE consumer = 'rollback'`).Scan(&inbox); err != nil || inbox != 1 {
		t.Fatalf("inbox rows %d (%v), want 1", inbox, err)
	}
	if total, _ := countEffects(t, pool); total != 1 {
		t.Fatalf("effects %d after 2 failed attempts and 1 success, want 1", total)
	}
}

// A saga step: the handler's effect, its inbox row and the next event commit together.
func TestInboxHandlerEmitsTheNextEventAtomically(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	startRelay(t, pool, rt, RelayOptions{})
	var attempts atomic.Int64
	step := bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		if err := applyEffect(ctx, e); err != nil {
			return err
		}
		if _, err := Emit(ctx, Tx(ctx), "step", evFollowed, e.Key, followed{N: e.Data.N}); err != nil {
			return err
		}
		if attempts.Add(1) == 1 {
			return errors.New("crash after emitting")
		}
		return nil
	})
	spec := contracts.ConsumerSpec{Stream: testStream, Durable: "step", FilterSubjects: []string{evHappened.Filter()}, Backoff: []time.Duration{10 * time.Millisecond}}
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", spec, step, bus.WithConsumerMiddleware(Inbox(pool, "step"))); err != nil {
		t.Fatal(err)
	}
	var next atomic.Int64
	followSpec := contracts.ConsumerSpec{Stream: testStream, Durable: "follow", FilterSubjects: []string{evFollowed.Filter()}}
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", followSpec, bus.OnEvent(evFollowed, func(ctx context.Context, e bus.Event[followed]) error {
		next.Add(1)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Emit(ctxT(t, 10*time.Second), rt, "test", evHappened, "k", happened{N: 1}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool { return next.Load() >= 1 }, "the next event")
	moatest.Eventually(t, 10*time.Second, func() bool { return unpublished(t, pool) == 0 }, "outbox drained")
	var rows int
	if err := pool.QueryRow(ctxT(t, 5*time.Second), `SELECT count(*) FROM moa_outbox`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	total, _ := countEffects(t, pool)
	t.Logf("attempts=%d effects=%d outbox rows=%d next events delivered=%d", attempts.Load(), total, rows, next.Load())
	if attempts.Load() != 2 || total != 1 || rows != 1 || next.Load() != 1 {
		t.Fatal("the failed attempt leaked its effect or its event")
	}
}

func TestInboxSerialisesConcurrentCopiesOfOneEvent(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	createEffects(t, pool)
	env, _, err := bus.NewEnvelope(context.Background(), nil, "test", evHappened, "k", happened{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(env)
	var dups atomic.Int64
	h := Inbox(pool, "concurrent", OnDuplicate(func(context.Context, *bus.Msg, string) { dups.Add(1) }))(
		bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
			time.Sleep(20 * time.Millisecond) // hold the transaction open while the others arrive
			return applyEffect(ctx, e)
		}))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h(ctxT(t, 30*time.Second), &bus.Msg{Kind: bus.KindEvent, Subject: evHappened.Subject("k"), Header: nats.Header{}, Data: body})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total, _ := countEffects(t, pool)
	if total != 1 || dups.Load() != 7 {
		t.Fatalf("8 concurrent copies: %d effects, %d duplicates; want 1 and 7", total, dups.Load())
	}
}

func TestInboxDeadLettersAMessageWithoutID(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rt := newRuntime(t, moatest.NATS(t).Conn(t))
	var ran atomic.Bool
	_, err := rt.Consume(ctxT(t, 10*time.Second), "test", contracts.ConsumerSpec{Stream: testStream, Durable: "noid"},
		func(ctx context.Context, m *bus.Msg) ([]byte, error) { ran.Store(true); return nil, nil },
		bus.WithConsumerMiddleware(Inbox(pool, "noid")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.JetStream().Publish(ctxT(t, 10*time.Second), "evt.otest.raw.k", []byte("not an envelope")); err != nil {
		t.Fatal(err)
	}
	dlq, err := rt.JetStream().Stream(ctxT(t, 10*time.Second), contracts.StreamDeadLetter.Name)
	if err != nil {
		t.Fatal(err)
	}
	var dl *jetstream.RawStreamMsg
	moatest.WaitFor(t, 30*time.Second, func() error {
		dl, err = dlq.GetLastMsgForSubject(ctxT(t, 5*time.Second), bus.DeadLetterSubject(testStream.Name, "noid"))
		return err
	})
	if code := dl.Header.Get(bus.HeaderDLQErrorCode); code != contracts.ErrNoEventID.Code {
		t.Fatalf("dead letter code %q, want %q", code, contracts.ErrNoEventID.Code)
	}
	if ran.Load() {
		t.Fatal("the handler ran for a message the inbox cannot key")
	}
}

// The inbox quotes its key into SQL itself (see inboxTx): quotes and backslashes must arrive as
// they are, and a second copy must still be a duplicate.
func TestInboxKeysWithQuotesAndBackslashes(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	consumer := `o'brien\`
	id := `it's a \'test\\' id`
	var dups atomic.Int64
	var runs atomic.Int64
	h := Inbox(pool, consumer, OnDuplicate(func(context.Context, *bus.Msg, string) { dups.Add(1) }))(
		func(ctx context.Context, m *bus.Msg) ([]byte, error) { runs.Add(1); return nil, nil })
	msg := &bus.Msg{Kind: bus.KindEvent, Subject: "evt.otest.raw.k", Header: nats.Header{}, Data: []byte("raw")}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	for range 2 {
		if _, err := h(ctxT(t, 10*time.Second), msg); err != nil {
			t.Fatal(err)
		}
	}
	var gotConsumer, gotID string
	if err := pool.QueryRow(ctxT(t, 5*time.Second), `SELECT consumer, event_id FROM moa_inbox`).Scan(&gotConsumer, &gotID); err != nil {
		t.Fatal(err)
	}
	if gotConsumer != consumer || gotID != id || runs.Load() != 1 || dups.Load() != 1 {
		t.Fatalf("stored (%q, %q), runs %d, dups %d; want (%q, %q), 1, 1", gotConsumer, gotID, runs.Load(), dups.Load(), consumer, id)
	}
	msg.Header.Set(jetstream.MsgIDHeader, "nul\x00byte")
	if _, err := h(ctxT(t, 10*time.Second), msg); !errors.Is(err, contracts.ErrNoEventID) {
		t.Fatalf("NUL in the id: %v, want %s", err, contracts.ErrNoEventID.Code)
	}
}
