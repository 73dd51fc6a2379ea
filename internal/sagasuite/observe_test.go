package sagasuite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// streamEvents returns the envelopes on stream whose subjects match filter, in stream order.
// It reads until it has as many messages as the stream holds on filter when it starts (the
// stream's per-subject counts), so neither an empty fetch nor a consumer's own idea of what is
// pending on a cluster that has just failed over can end it early.
func streamEvents(t testing.TB, js jetstream.JetStream, stream, filter string) []contracts.Envelope {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for _, n := range info.State.Subjects {
		want += n
	}
	if want == 0 {
		return nil
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	var out []contracts.Envelope
	var read uint64
	deadline := time.Now().Add(30 * time.Second)
	for read < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: read %d of its %d messages on %s within 30 s", stream, read, want, filter)
		}
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			continue // cut short by the cluster: the deadline bounds the retries
		}
		for m := range batch.Messages() {
			read++
			var env contracts.Envelope
			if json.Unmarshal(m.Data(), &env) == nil {
				out = append(out, env)
			}
		}
	}
	return out
}

// deadLetters counts the messages in the dead-letter stream.
func deadLetters(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(ctxT(t, 10*time.Second), contracts.StreamDeadLetter.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// metric returns the value of a gauge or counter (summed over its labels) in service's registry.
func (s *stack) metric(service, name string) float64 {
	s.t.Helper()
	mfs, err := s.regs[service].Gather()
	if err != nil {
		s.t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return v
}

// quiet waits until every consumer of the saga's streams has nothing pending or unacked and
// every outbox is drained: the system has settled.
func (s *stack) quiet() {
	s.t.Helper()
	moatest.WaitFor(s.t, 30*time.Second, func() error { return settled(ctxT(s.t, 10*time.Second), s.rt.JetStream(), s.pools) })
}

// settled reports an error while an outbox has unpublished rows or a durable consumer of the
// saga's streams has messages pending or unacknowledged.
func settled(ctx context.Context, js jetstream.JetStream, pools map[string]*pgxpool.Pool) error {
	for name, pool := range pools {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM moa_outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%s outbox has %d unpublished rows", name, n)
		}
	}
	for _, stream := range []string{contracts.StreamCatalog.Name, contracts.StreamSubscription.Name, contracts.StreamBilling.Name} {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		names := st.ConsumerNames(ctx)
		for name := range names.Name() {
			c, err := st.Consumer(ctx, name)
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumPending > 0 || info.NumAckPending > 0 {
				return fmt.Errorf("consumer %s on %s: %d pending, %d unacked", name, stream, info.NumPending, info.NumAckPending)
			}
		}
		if err := names.Err(); err != nil {
			return err
		}
	}
	return nil
}
