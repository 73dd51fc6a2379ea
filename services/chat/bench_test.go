package chat_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// BenchmarkSendToRecipient measures chat latency as the recipient sees it: from the moment a
// send is due to the moment the recipient's push subject delivers the message, through the
// chat service and its MongoDB store (embedded FerretDB unless MOA_TEST_MONGO_URL is set). Sends
// are issued open-loop at a fixed rate (1,000/s), each on its own goroutine, and latency counts
// from the scheduled time, so a slow send cannot hide the sends queued behind it. Run it with a
// fixed count, e.g.
//
//	go test -run '^$' -bench SendToRecipient -benchtime 5000x ./services/chat/
//
// It reports p50, p99 and max in milliseconds over the messages delivered, and the number of
// sends that failed.
func BenchmarkSendToRecipient(b *testing.B) {
	const rate = 1000 // messages per second
	f := start(b)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	ctx := f.as(consumer)

	n := b.N
	due := make([]time.Time, n)
	lat := make([]int64, n) // nanoseconds; 0 until received
	var received, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	done := make(chan struct{})
	sub, err := contracts.PushUserSubject(seller.UserID)
	if err != nil {
		b.Fatal(err)
	}
	nc := f.NATS.Conn(b)
	_, err = nc.Subscribe(sub, func(m *nats.Msg) {
		now := time.Now()
		var p struct {
			Body contracts.ChatMessage `json:"body"`
		}
		if json.Unmarshal(m.Data, &p) != nil {
			return
		}
		i, err := strconv.Atoi(strings.TrimPrefix(p.Body.ClientMsgID, "bench-"))
		if err != nil || i < 0 || i >= n || atomic.LoadInt64(&lat[i]) != 0 {
			return // a repeated push of a retried send counts once
		}
		atomic.StoreInt64(&lat[i], int64(now.Sub(due[i])))
		if received.Add(1)+failed.Load() == int64(n) {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	// Warm up: connections, token keys, the room in the store's cache.
	f.send(consumer, r.ID, "warm-up")

	start := time.Now().Add(10 * time.Millisecond)
	for i := range n {
		due[i] = start.Add(time.Duration(i) * time.Second / rate)
	}
	b.ResetTimer()
	for i := range n {
		time.Sleep(time.Until(due[i])) // pacing the load, not waiting for a condition
		go func() {
			if _, err := f.chat.Send(ctx, r.ID, fmt.Sprintf("benchmark message %d", i), "bench-"+strconv.Itoa(i)); err != nil {
				firstErr.CompareAndSwap(nil, &err)
				if failed.Add(1)+received.Load() == int64(n) {
					close(done)
				}
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("%d of %d messages received after 60s", received.Load(), n)
	}
	b.StopTimer()
	// A failed send (the client's bulkhead shedding when the machine cannot keep up, a
	// deadline) is reported, not fatal: the percentiles are over the messages delivered.
	if k := failed.Load(); k > 0 {
		b.Logf("%d of %d sends failed; the first with %v", k, n, *firstErr.Load())
	}
	b.ReportMetric(float64(failed.Load()), "failed")
	var ms []float64
	for i := range lat {
		if d := atomic.LoadInt64(&lat[i]); d != 0 {
			ms = append(ms, float64(d)/1e6)
		}
	}
	if len(ms) == 0 {
		b.Fatal("no message was delivered")
	}
	slices.Sort(ms)
	k := len(ms)
	b.ReportMetric(ms[k*50/100], "p50-ms")
	b.ReportMetric(ms[min(k-1, k*99/100)], "p99-ms")
	b.ReportMetric(ms[k-1], "max-ms")
}
