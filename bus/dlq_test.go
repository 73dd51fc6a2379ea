package bus_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// A poison message (its handler always fails) is dead-lettered after MaxDeliver attempts, within
// its backoff budget, with every header `moa dlq` needs, while the messages behind it flow.
func TestPoisonMessageIsDeadLetteredWithinItsBackoffBudget(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []bus.ConsumeOption
	}{
		{"unkeyed", []bus.ConsumeOption{bus.WithConcurrency(4)}},
		{"keyed", []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4)}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			rt, _ := mbRuntime(t)
			backoff := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
			budget := 350 * time.Millisecond // the sum of the delays before attempts 2, 3 and 4
			var poisonRuns, handled atomic.Int64
			h := bus.OnEvent(mbEvent, func(ctx context.Context, e bus.Event[mbData]) error {
				if e.Data.N < 0 {
					poisonRuns.Add(1)
					return errors.New("poison: the handler cannot process this")
				}
				handled.Add(1)
				return nil
			})
			durable := "poison_" + mode.name
			spec := contracts.ConsumerSpec{Stream: mbStream, Durable: durable, MaxDeliver: 4, Backoff: backoff}
			if _, err := rt.Consume(mbCtx(t), "test", spec, h, mode.opts...); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			poison := mbEmit(t, rt, "p", -1)
			const others = 300
			for i := range others {
				mbEmit(t, rt, "k"+strconv.Itoa(i%7), i) // other keys, and the poison's own below
			}
			mbEmit(t, rt, "p", 1) // behind the poison on its key
			var dl []*jetstream.RawStreamMsg
			moatest.Eventually(t, 30*time.Second, func() bool {
				dl = mbDeadLetters(t, rt.JetStream(), durable)
				return len(dl) == 1
			}, "the poison message dead-lettered")
			took := time.Since(start)
			moatest.Eventually(t, 30*time.Second, func() bool { return handled.Load() == others+1 }, "all other messages handled (%d)", handled.Load())
			t.Logf("published=%d handled=%d poison attempts=%d dead-lettered=%d after %v (backoff budget %v) lost=0",
				others+2, handled.Load(), poisonRuns.Load(), len(dl), took.Round(time.Millisecond), budget)
			if poisonRuns.Load() != 4 {
				t.Fatalf("poison ran %d times, want MaxDeliver = 4", poisonRuns.Load())
			}
			// Far below AckWait (30s): the retries are driven by the backoff, not by timeouts.
			if took > budget+10*time.Second {
				t.Fatalf("dead-lettered after %v, budget %v", took, budget)
			}
			hdr := dl[0].Header
			want := map[string]string{
				bus.HeaderDLQSubject:    "evt.mbtest.step.p",
				bus.HeaderDLQStream:     mbStream.Name,
				bus.HeaderDLQSequence:   "1",
				bus.HeaderDLQConsumer:   durable,
				bus.HeaderDLQDeliveries: "4",
				bus.HeaderDLQErrorCode:  "internal",
				bus.HeaderDLQMsgID:      poison.ID,
				bus.HeaderEventType:     "mbtest.step",
			}
			for k, v := range want {
				if got := hdr.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if hdr.Get(bus.HeaderDLQError) == "" {
				t.Error("no error text")
			}
			if _, err := time.Parse(time.RFC3339Nano, hdr.Get(bus.HeaderDLQTime)); err != nil {
				t.Errorf("dead-letter time %q: %v", hdr.Get(bus.HeaderDLQTime), err)
			}
			moatest.Eventually(t, 10*time.Second, func() bool {
				info := mbConsumerInfo(t, rt.JetStream(), durable)
				return info.NumAckPending == 0 && info.NumPending == 0
			}, "consumer settled (the poison terminated, not pending)")
		})
	}
}

// A message whose every delivery crashed the consumer (no ack, no nak: the process died) comes
// back once more than MaxDeliver, and that delivery dead-letters it without running the handler.
func TestCrashLoopingMessageIsDeadLetteredWithoutRunningAgain(t *testing.T) {
	rt, srv := mbRuntime(t)
	spec := contracts.ConsumerSpec{Stream: mbStream, Durable: "crashloop", MaxDeliver: 3, AckWait: 200 * time.Millisecond}
	var ran atomic.Int64
	h := func(ctx context.Context, m *bus.Msg) ([]byte, error) { ran.Add(1); return nil, nil }
	c, err := rt.Consume(mbCtx(t), "test", spec, h)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop() // the durable exists; now the "crashing" instances take over
	mbEmit(t, rt, "k", 0)

	// Three deliveries that are never acknowledged: each instance died holding the message.
	js := srv.Conn(t)
	jsc, err := jetstream.New(js)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jsc.Consumer(mbCtx(t), mbStream.Name, "crashloop")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		batch, err := raw.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			if md.NumDelivered != uint64(i) {
				t.Fatalf("delivery %d has count %d", i, md.NumDelivered)
			}
			got++
		}
		if got != 1 {
			t.Fatalf("delivery %d: got %d messages (%v)", i, got, batch.Error())
		}
	}
	rt2 := mbRuntimeOn(t, srv.Conn(t))
	if _, err := rt2.Consume(mbCtx(t), "test", spec, h); err != nil {
		t.Fatal(err)
	}
	var dl []*jetstream.RawStreamMsg
	moatest.Eventually(t, 20*time.Second, func() bool {
		dl = mbDeadLetters(t, rt.JetStream(), "crashloop")
		return len(dl) == 1
	}, "the crash-looping message dead-lettered")
	if code := dl[0].Header.Get(bus.HeaderDLQErrorCode); code != contracts.ErrDeliveriesExhausted.Code {
		t.Fatalf("code %q, want %q", code, contracts.ErrDeliveriesExhausted.Code)
	}
	if got := dl[0].Header.Get(bus.HeaderDLQDeliveries); got != "3" {
		t.Fatalf("deliveries %s, want 3", got)
	}
	if ran.Load() != 0 {
		t.Fatalf("the handler ran %d times on the crash-looping message", ran.Load())
	}
}

// When the server itself gives up (MaxDeliver exhausted by ack timeouts), its advisory makes a
// live instance dead-letter the message.
func TestMaxDeliveriesAdvisoryDeadLettersTheMessage(t *testing.T) {
	rt, _ := mbRuntime(t)
	spec := contracts.ConsumerSpec{Stream: mbStream, Durable: "advised"}
	raw, err := rt.JetStream().CreateOrUpdateConsumer(mbCtx(t), mbStream.Name, jetstream.ConsumerConfig{
		Durable: "advised", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 200 * time.Millisecond, MaxDeliver: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := rt.DeadLetterExhausted("test", spec)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	env := mbEmit(t, rt, "k", 0)
	deliveries := 0
	// Keep a pull request open past the last ack timeout: the server notices the exhausted
	// message when it next tries to deliver.
	deadline := time.Now().Add(20 * time.Second)
	for len(mbDeadLetters(t, rt.JetStream(), "advised")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter after %d deliveries", deliveries)
		}
		batch, err := raw.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() {
			deliveries++ // and never acked
		}
	}
	dl := mbDeadLetters(t, rt.JetStream(), "advised")[0]
	t.Logf("deliveries=%d dead letter code=%s", deliveries, dl.Header.Get(bus.HeaderDLQErrorCode))
	if deliveries != 2 || dl.Header.Get(bus.HeaderDLQErrorCode) != contracts.ErrDeliveriesExhausted.Code ||
		dl.Header.Get(bus.HeaderDLQMsgID) != env.ID || dl.Header.Get(bus.HeaderDLQDeliveries) != "2" {
		t.Fatalf("deliveries %d, dead letter headers %v", deliveries, dl.Header)
	}
}

// The same failure recorded twice (two instances, a retried publish) is one dead letter.
func TestDeadLetterIsRecordedOncePerMessageAndConsumer(t *testing.T) {
	rt, _ := mbRuntime(t)
	for range 2 {
		m := bus.DeadLetter(mbStream.Name, "twice", "evt.mbtest.step.k", 7, nil, []byte("{}"), 3, errors.New("boom"))
		if _, err := rt.JetStream().PublishMsg(mbCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(mbDeadLetters(t, rt.JetStream(), "twice")); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
}

// Without a dead-letter stream the poison message is held and retried, never dropped; once the
// stream exists the dead letter lands and the message is terminated.
func TestDeadLetterWaitsForTheDeadLetterStream(t *testing.T) {
	srv := moatest.NATS(t)
	rt, err := bus.New(srv.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	if err := rt.EnsureStreams(mbCtx(t), mbStream); err != nil {
		t.Fatal(err)
	}
	h := func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		return nil, bus.Permanent(errors.New("never works"))
	}
	spec := contracts.ConsumerSpec{Stream: mbStream, Durable: "nodlq", AckWait: 300 * time.Millisecond}
	if _, err := rt.Consume(mbCtx(t), "test", spec, h); err != nil {
		t.Fatal(err)
	}
	mbEmit(t, rt, "k", 0)
	moatest.Eventually(t, 10*time.Second, func() bool { return mbConsumerInfo(t, rt.JetStream(), "nodlq").NumAckPending == 1 }, "message held")
	if err := rt.EnsureStreams(mbCtx(t), contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool { return len(mbDeadLetters(t, rt.JetStream(), "nodlq")) == 1 }, "dead letter once the stream exists")
	moatest.Eventually(t, 10*time.Second, func() bool {
		info := mbConsumerInfo(t, rt.JetStream(), "nodlq")
		return info.NumAckPending == 0 && info.NumRedelivered == 0
	}, "terminated, and never redelivered while held")
}
