package moatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// eventsTimeout bounds the waits of WaitEvents and WaitConsumed: a saga step on a loaded
// machine takes seconds, not tens of them.
const eventsTimeout = 30 * time.Second

// Events returns the envelopes stored on the stream that holds filter's subjects (NATS
// wildcards allowed: "evt.catalog.product_created.>"), matching filter, in stream order.
func (k *Kit[C]) Events(t testing.TB, filter string) []contracts.Envelope {
	t.Helper()
	out, err := k.events(filter)
	if err != nil {
		t.Fatalf("moatest: events on %s: %v", filter, err)
	}
	return out
}

// WaitEvents waits until n events match filter and returns them; more than n fails the test,
// so that a duplicate is caught.
func (k *Kit[C]) WaitEvents(t testing.TB, filter string, n int) []contracts.Envelope {
	t.Helper()
	var got []contracts.Envelope
	WaitFor(t, eventsTimeout, func() error {
		var err error
		if got, err = k.events(filter); err != nil {
			return err
		}
		if len(got) < n {
			return fmt.Errorf("%d events on %s, waiting for %d", len(got), filter, n)
		}
		return nil
	})
	if len(got) != n {
		t.Fatalf("moatest: %d events on %s, want %d", len(got), filter, n)
	}
	return got
}

// WaitConsumed waits until the durable consumer on stream has settled (acked, or
// dead-lettered) every message up to stream sequence seq.
func (k *Kit[C]) WaitConsumed(t testing.TB, stream, durable string, seq uint64) {
	t.Helper()
	WaitFor(t, eventsTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := k.Runtime.JetStream().Consumer(ctx, stream, durable)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < seq {
			return fmt.Errorf("%s on %s settled up to sequence %d, waiting for %d", durable, stream, info.AckFloor.Stream, seq)
		}
		return nil
	})
}

func (k *Kit[C]) events(filter string) ([]contracts.Envelope, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := k.Runtime.JetStream()
	stream, err := js.StreamNameBySubject(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("no stream holds %s: %w", filter, err)
	}
	// An ordered consumer reads the stream as it is now and leaves nothing behind.
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, err
	}
	var out []contracts.Envelope
	for {
		batch, err := c.FetchNoWait(100)
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var env contracts.Envelope
			if err := json.Unmarshal(m.Data(), &env); err != nil {
				return nil, fmt.Errorf("%s: not an envelope: %w", m.Subject(), err)
			}
			out = append(out, env)
		}
		if n == 0 {
			return out, nil
		}
	}
}

// WantError fails the test unless err is the catalogue error want (same code) and, when
// field is not "", names that field. msgAndArgs say which call it was, as for t.Fatalf.
func WantError(t testing.TB, err error, want *contracts.Error, field string, msgAndArgs ...any) {
	t.Helper()
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != want.Code {
		t.Fatalf("got error %v, want %s%s", err, want.Code, describe(msgAndArgs))
	}
	if field != "" && ce.Field != field {
		t.Fatalf("got %s on field %q (%s), want field %q%s", ce.Code, ce.Field, ce.Message, field, describe(msgAndArgs))
	}
}
