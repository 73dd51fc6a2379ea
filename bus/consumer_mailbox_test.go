package bus_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestKeyedConsumerIsAnActorPerKey(t *testing.T) {
	rt, _ := mbRuntime(t)
	const keys, perKey, workers = 8, 40, 4
	for i := range perKey {
		for k := range keys {
			mbEmit(t, rt, "key"+strconv.Itoa(k), i)
		}
	}
	log := newMBLog()
	h := bus.OnEvent(mbEvent, func(ctx context.Context, e bus.Event[mbData]) error {
		log.enter(e.Key)
		defer log.leave(e.Key, e.Data.N)
		time.Sleep(2 * time.Millisecond) // some work, so that keys overlap
		return nil
	})
	_, err := rt.Consume(mbCtx(t), "test", contracts.ConsumerSpec{Stream: mbStream, Durable: "actors"}, h,
		bus.WithKey(bus.SubjectKey), bus.WithConcurrency(workers))
	if err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 60*time.Second, func() bool { return log.total() == keys*perKey }, "every message handled")
	log.mu.Lock()
	defer log.mu.Unlock()
	t.Logf("handled=%d keys=%d peak parallel=%d same-key overlaps=%d", keys*perKey, keys, log.peak, log.overlap)
	if log.overlap != 0 {
		t.Fatalf("a key ran two handlers at once %d times", log.overlap)
	}
	if log.peak > workers || log.peak < 2 {
		t.Fatalf("peak parallel handlers %d, want between 2 and %d", log.peak, workers)
	}
	for k, got := range log.byKey {
		for i, n := range got {
			if n != i {
				t.Fatalf("key %s handled %v: out of order at %d", k, got, i)
			}
		}
	}
}

// A failing message holds its key (order) but not a worker: with a single worker, other keys
// keep flowing while it is retried, and the message behind it on its key waits for it.
func TestFailingKeyDoesNotBlockOtherKeys(t *testing.T) {
	rt, _ := mbRuntime(t)
	release := make(chan struct{})
	var attempts atomic.Int64
	log := newMBLog()
	h := bus.OnEvent(mbEvent, func(ctx context.Context, e bus.Event[mbData]) error {
		if e.Key == "stuck" && e.Data.N == 0 {
			attempts.Add(1)
			select {
			case <-release:
			default:
				return errors.New("not yet")
			}
		}
		log.enter(e.Key)
		log.leave(e.Key, e.Data.N)
		return nil
	})
	spec := contracts.ConsumerSpec{Stream: mbStream, Durable: "hol", MaxDeliver: 10000, Backoff: []time.Duration{20 * time.Millisecond}}
	if _, err := rt.Consume(mbCtx(t), "test", spec, h, bus.WithKey(bus.SubjectKey), bus.WithConcurrency(1)); err != nil {
		t.Fatal(err)
	}
	mbEmit(t, rt, "stuck", 0)
	mbEmit(t, rt, "stuck", 1)
	for i := range 100 {
		mbEmit(t, rt, "free"+strconv.Itoa(i%5), i)
	}
	moatest.Eventually(t, 30*time.Second, func() bool { return log.total() == 100 }, "the other keys' 100 messages handled while one key is stuck")
	if n := log.count("stuck"); n != 0 {
		t.Fatalf("the message behind the stuck one ran before it (%d handled)", n)
	}
	moatest.Eventually(t, 10*time.Second, func() bool { return attempts.Load() >= 2 }, "the stuck message retried")
	if n := log.count("stuck"); n != 0 {
		t.Fatalf("the message behind the stuck one ran before it (%d handled)", n)
	}
	close(release)
	moatest.Eventually(t, 30*time.Second, func() bool { return log.count("stuck") == 2 }, "the stuck key resumed")
	log.mu.Lock()
	defer log.mu.Unlock()
	if got := log.byKey["stuck"]; got[0] != 0 || got[1] != 1 {
		t.Fatalf("stuck key handled %v, want [0 1]", got)
	}
	t.Logf("other keys handled=100 while stuck; stuck attempts=%d", attempts.Load())
}

// A handler that runs for several AckWaits, and messages that wait behind it in their mailbox
// for as long, are kept alive: nothing is redelivered.
func TestSlowHandlerExtendsItsAckDeadline(t *testing.T) {
	rt, _ := mbRuntime(t)
	var runs atomic.Int64
	var redelivered atomic.Int64
	h := func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		runs.Add(1)
		if m.Deliveries > 1 {
			redelivered.Add(1)
		}
		time.Sleep(1600 * time.Millisecond) // the slow work: more than 3 AckWaits
		return nil, nil
	}
	spec := contracts.ConsumerSpec{Stream: mbStream, Durable: "slow", AckWait: 500 * time.Millisecond}
	if _, err := rt.Consume(mbCtx(t), "test", spec, h, bus.WithKey(bus.SubjectKey)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		mbEmit(t, rt, "one", i)
	}
	moatest.Eventually(t, 30*time.Second, func() bool {
		info := mbConsumerInfo(t, rt.JetStream(), "slow")
		return info.AckFloor.Stream == 3 && info.NumAckPending == 0
	}, "all three acked")
	info := mbConsumerInfo(t, rt.JetStream(), "slow")
	t.Logf("runs=%d redelivered=%d server redeliveries=%d", runs.Load(), redelivered.Load(), info.NumRedelivered)
	if runs.Load() != 3 || redelivered.Load() != 0 || info.NumRedelivered != 0 {
		t.Fatal("a slow or waiting message was redelivered")
	}
}

// Closing a runtime hands its consumers' messages back at once: those queued in mailboxes, and
// the running one whose handler was canceled past the drain budget (a shutdown is not the
// message's fault: it is neither counted as a failure nor dead-lettered). The next instance
// gets all of them without waiting for AckWait (a minute here).
func TestCloseHandsBackQueuedAndAbandonedMessages(t *testing.T) {
	rt, srv := mbRuntime(t)
	var first atomic.Int64
	h1 := func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		first.Add(1)
		<-ctx.Done() // a handler that only stops when told to
		return nil, ctx.Err()
	}
	spec := contracts.ConsumerSpec{Stream: mbStream, Durable: "handoff", AckWait: time.Minute}
	if _, err := rt.Consume(mbCtx(t), "test", spec, h1, bus.WithKey(bus.SubjectKey)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mbEmit(t, rt, "k", i)
	}
	// Held by the server's count is not yet running: wait for the first handler to start too,
	// or Close may come before it (a fresh-clone run failed so: started=0).
	moatest.Eventually(t, 10*time.Second, func() bool {
		return first.Load() == 1 && mbConsumerInfo(t, rt.JetStream(), "handoff").NumAckPending == 10
	}, "all ten held, the first one running")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = rt.Close(ctx, false)

	rt2 := mbRuntimeOn(t, srv.Conn(t))
	var second atomic.Int64
	if _, err := rt2.Consume(mbCtx(t), "test", spec, func(ctx context.Context, m *bus.Msg) ([]byte, error) { second.Add(1); return nil, nil }); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return second.Load() == 10 },
		"all ten handed over well before AckWait (got %d)", second.Load())
	t.Logf("first instance started=%d, handed over to the next=%d", first.Load(), second.Load())
	if first.Load() != 1 {
		t.Fatalf("the closing instance started %d handlers, want 1", first.Load())
	}
	if dl := mbDeadLetters(t, rt2.JetStream(), "handoff"); len(dl) != 0 {
		t.Fatalf("a message was dead-lettered because of the shutdown: %s", dl[0].Header.Get(bus.HeaderDLQError))
	}
}

// A replay meant for one consumer is skipped (acked) by the others on the stream.
func TestReplayForAnotherConsumerIsSkipped(t *testing.T) {
	rt, _ := mbRuntime(t)
	var mine, theirs atomic.Int64
	count := func(n *atomic.Int64) bus.Handler {
		return func(ctx context.Context, m *bus.Msg) ([]byte, error) { n.Add(1); return nil, nil }
	}
	for name, n := range map[string]*atomic.Int64{"mine": &mine, "theirs": &theirs} {
		if _, err := rt.Consume(mbCtx(t), "test", contracts.ConsumerSpec{Stream: mbStream, Durable: name}, count(n)); err != nil {
			t.Fatal(err)
		}
	}
	m := nats.NewMsg("evt.mbtest.step.k")
	m.Data = []byte(`{}`)
	m.Header.Set(bus.HeaderReplayFor, "mine")
	if _, err := rt.JetStream().PublishMsg(mbCtx(t), m); err != nil {
		t.Fatal(err)
	}
	mbEmit(t, rt, "k", 1) // a normal event, for both
	moatest.Eventually(t, 10*time.Second, func() bool {
		return mbConsumerInfo(t, rt.JetStream(), "theirs").AckFloor.Stream == 2 && mine.Load() == 2
	}, "both messages settled")
	if theirs.Load() != 1 {
		t.Fatalf("the other consumer ran %d times, want 1 (the replay is not for it)", theirs.Load())
	}
}

// A durable deleted under a running consumer is recreated; the consumer does not go deaf.
func TestConsumerSurvivesItsDurableBeingDeleted(t *testing.T) {
	rt, _ := mbRuntime(t)
	var got atomic.Int64
	if _, err := rt.Consume(mbCtx(t), "test", contracts.ConsumerSpec{Stream: mbStream, Durable: "phoenix"},
		func(ctx context.Context, m *bus.Msg) ([]byte, error) { got.Add(1); return nil, nil }); err != nil {
		t.Fatal(err)
	}
	mbEmit(t, rt, "k", 0)
	moatest.Eventually(t, 10*time.Second, func() bool { return got.Load() == 1 }, "first message")
	if err := rt.JetStream().DeleteConsumer(mbCtx(t), mbStream.Name, "phoenix"); err != nil {
		t.Fatal(err)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		_, err := rt.JetStream().Consumer(mbCtx(t), mbStream.Name, "phoenix")
		return err
	})
	mbEmit(t, rt, "k", 1)
	// The recreated durable starts from the beginning of the stream (deliver all): the first
	// message comes again, which is what an inbox is for.
	moatest.Eventually(t, 20*time.Second, func() bool { return got.Load() >= 2 }, "messages after the delete")
}

func TestInvalidDurableNameIsRejected(t *testing.T) {
	rt, _ := mbRuntime(t)
	_, err := rt.Consume(mbCtx(t), "test", contracts.ConsumerSpec{Stream: mbStream, Durable: "a.b"},
		func(ctx context.Context, m *bus.Msg) ([]byte, error) { return nil, nil })
	if !errors.Is(err, contracts.ErrValidation) {
		t.Fatalf("got %v, want %s", err, contracts.ErrValidation.Code)
	}
}
