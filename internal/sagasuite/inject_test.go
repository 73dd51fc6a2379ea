package sagasuite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// injector publishes the faults that are messages: duplicates, late events and poison.
type injector struct {
	js       jetstream.JetStream
	mu       sync.Mutex
	poison   map[string]bool // subjects of poison messages: never duplicated
	dups     atomic.Int64
	lateN    atomic.Int64
	poisoned atomic.Int64
}

var sagaStreams = []string{contracts.StreamSubscription.Name, contracts.StreamCatalog.Name, contracts.StreamBilling.Name}

// republish stores a copy of message seq of stream under a fresh Nats-Msg-Id: the stream's
// duplicate window does not catch it; the consumers' inboxes must.
func (in *injector) republish(ctx context.Context, stream string, seq uint64) bool {
	st, err := in.js.Stream(ctx, stream)
	if err != nil {
		return false
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return false
	}
	in.mu.Lock()
	bad := in.poison[m.Subject]
	in.mu.Unlock()
	if bad || !strings.HasPrefix(string(m.Data), "{") {
		return false
	}
	msg := nats.NewMsg(m.Subject)
	msg.Data = m.Data
	for k, v := range m.Header {
		msg.Header[k] = v
	}
	msg.Header.Set(jetstream.MsgIDHeader, "dup-"+uuid.NewString())
	_, err = in.js.PublishMsg(ctx, msg)
	return err == nil
}

// duplicates re-publishes a recent message of a saga stream every interval until stopped.
func (in *injector) duplicates(every time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			stream := sagaStreams[rand.IntN(len(sagaStreams))]
			if st, err := in.js.Stream(ctx, stream); err == nil {
				if info, err := st.Info(ctx); err == nil && info.State.Msgs > 0 {
					from := max(info.State.FirstSeq, info.State.LastSeq-min(info.State.LastSeq, 50))
					if in.republish(ctx, stream, from+rand.Uint64N(info.State.LastSeq-from+1)) {
						in.dups.Add(1)
					}
				}
			}
			cancel()
		}
	}()
	return func() { close(done); <-finished }
}

// late re-publishes the first n messages of each saga stream: events of sagas long finished.
func (in *injector) late(n uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, stream := range sagaStreams {
		for seq := uint64(1); seq <= n; seq++ {
			if in.republish(ctx, stream, seq) {
				in.lateN.Add(1)
			}
		}
	}
}

// poisonMsg stores poison message kind k on the subscription stream, where the catalog's seat
// consumer (the only consumer of subscription.requested) must dead-letter it. A fixed
// Nats-Msg-Id makes retries through a NATS restart store it once.
func (in *injector) poisonMsg(t *testing.T, k int) {
	key := fmt.Sprintf("poison-%d-%s", k, uuid.NewString()[:8])
	subject := contracts.SubscriptionRequested.Subject(key)
	in.mu.Lock()
	in.poison[subject] = true
	in.mu.Unlock()
	msg := nats.NewMsg(subject)
	msg.Header.Set(jetstream.MsgIDHeader, key)
	msg.Header.Set(bus.HeaderEventType, contracts.SubscriptionRequested.Type())
	switch k {
	case 0:
		msg.Data = []byte("\x00\x01 definitely not an envelope")
	case 1:
		msg.Data = []byte(`{"id":"` + uuid.NewString() + `","type":"subscription.requested","source":"mallory","key":"` + key +
			`","occurred_at":"2025-01-01T00:00:00Z","schema_version":1,"data":"not an object"}`)
	default:
		msg.Data = []byte(`{"id":"` + uuid.NewString() + `","type":"subscription.requested","source":"future","key":"` + key +
			`","occurred_at":"2025-01-01T00:00:00Z","schema_version":99,"data":{}}`)
	}
	moatest.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := in.js.PublishMsg(ctx, msg)
		return err
	})
	in.poisoned.Add(1)
}
