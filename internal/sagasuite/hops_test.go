package sagasuite

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// hop is one step of the saga as the streams recorded it: when its event was committed at
// the source (the envelope's occurred_at) and when the stream stored it.
type hop struct{ committed, stored time.Time }

// hops reads the events of the sagas ids from the saga streams and reports, per step, how long
// the relay took to publish a committed event and how long the next service took to commit its
// answer.
func hops(t testing.TB, js jetstream.JetStream, ids []string) string {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	at := map[string]map[string]hop{} // subscription → event type → hop
	for _, stream := range sagaStreams {
		ctx := ctxT(t, time.Minute)
		c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			batch, err := c.FetchNoWait(1000)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				var env contracts.Envelope
				md, err := m.Metadata()
				if err != nil || json.Unmarshal(m.Data(), &env) != nil || !want[env.Key] {
					continue
				}
				if at[env.Key] == nil {
					at[env.Key] = map[string]hop{}
				}
				if _, dup := at[env.Key][env.Type]; !dup {
					at[env.Key][env.Type] = hop{committed: env.OccurredAt, stored: md.Timestamp}
				}
			}
			if n == 0 {
				break
			}
		}
	}
	steps := []string{contracts.SubscriptionRequested.Type(), contracts.SeatReserved.Type(), contracts.PaymentSucceededEvent.Type(), contracts.SubscriptionActivated.Type()}
	var b strings.Builder
	for i, s := range steps {
		var relay, react []time.Duration
		for _, evs := range at {
			h, ok := evs[s]
			if !ok {
				continue
			}
			relay = append(relay, h.stored.Sub(h.committed))
			if i > 0 {
				if prev, ok := evs[steps[i-1]]; ok {
					react = append(react, h.committed.Sub(prev.stored))
				}
			}
		}
		r50, r99 := percentiles(relay)
		fmt.Fprintf(&b, "  %-28s relay (commit→stored) p50 %7v p99 %7v max %7v", s, r50.Round(100*time.Microsecond),
			r99.Round(100*time.Microsecond), maxOf(relay).Round(100*time.Microsecond))
		if i > 0 {
			c50, c99 := percentiles(react)
			fmt.Fprintf(&b, "   consumer (stored→answer committed) p50 %7v p99 %7v max %7v", c50.Round(100*time.Microsecond),
				c99.Round(100*time.Microsecond), maxOf(react).Round(100*time.Microsecond))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
