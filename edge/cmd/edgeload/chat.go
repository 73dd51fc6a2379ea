package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
)

// chatLatency runs consumer → seller messages through the edge and the chat service at a fixed
// rate and measures send → receive (the seller's edge pushes the stored message) and send → ack.
func chatLatency(bf benchFlags, srv ready, m *minter) error {
	type pair struct {
		consumer, seller *wsConn
		room             string
	}
	pairs := make([]*pair, bf.chatPairs)
	products := make([]string, bf.chatPairs)
	for i := range products {
		products[i] = uuid.NewString()
	}
	consumers, err := connectMany(srv.WS, m, bf.chatPairs, 32, consumer)
	if err != nil {
		return err
	}
	sellers, err := connectMany(srv.WS, m, bf.chatPairs, 32, func(i int) contracts.Principal {
		id := sellerOf(products[i])
		return contracts.Principal{UserID: id, Role: contracts.RoleSeller, Email: "s-" + id[:8] + "@bench.test", DisplayName: "bench"}
	})
	if err != nil {
		return err
	}
	defer func() {
		for i := range pairs {
			consumers[i].Close()
			sellers[i].Close()
		}
	}()
	for i := range pairs {
		f, err := consumers[i].Call("chat.open_room", map[string]string{"product_id": products[i]}, 30*time.Second)
		if err != nil {
			return err
		}
		var room contracts.ChatRoom
		if err := json.Unmarshal(f.Body, &room); err != nil {
			return err
		}
		pairs[i] = &pair{consumer: consumers[i], seller: sellers[i], room: room.ID}
	}

	var sentAt sync.Map // client_msg_id -> time.Time
	var recv, ack latencies
	measuring := atomic.Bool{}
	for _, p := range pairs {
		p.seller.Handle(func(_ *wsConn, f *frame, at time.Time) {
			if f.Type != "event" || f.Topic != contracts.PushTopicChatMessage {
				return
			}
			var msg contracts.ChatMessage
			if json.Unmarshal(f.Body, &msg) != nil {
				return
			}
			if t, ok := sentAt.Load(msg.ClientMsgID); ok && measuring.Load() {
				recv.Add(at.Sub(t.(time.Time)))
			}
		})
	}
	interval := time.Second / time.Duration(bf.chatRate)
	warmup := time.Second
	total := warmup + bf.chatDuration
	var sent, failed atomic.Int64
	var reasons tally
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if next.Sub(start) >= total {
			break
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		if i == int(warmup/interval) {
			measuring.Store(true)
		}
		p := pairs[i%len(pairs)]
		id := fmt.Sprintf("b%d", i)
		counted := measuring.Load()
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if counted {
				sentAt.Store(id, t)
				sent.Add(1)
			}
			_, err := p.consumer.Call("chat.send", map[string]string{"room_id": p.room, "text": "bench message " + id, "client_msg_id": id}, 30*time.Second)
			if err != nil {
				failed.Add(1)
				reasons.add(err.Error())
				return
			}
			if counted {
				ack.Add(time.Since(t))
			}
		}()
	}
	achieved := float64(sent.Load()) / time.Since(start.Add(warmup)).Seconds()
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for recv.Len() < int(sent.Load()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	n, p50, p99, max := recv.Summary()
	_, a50, a99, amax := ack.Summary()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	store := "through the chat service and its store"
	if bf.chatStore == "memory" {
		store = "through an in-memory chat stand-in: edge and NATS only"
	}
	fmt.Fprintf(tw, "CHAT (consumer sends → seller receives, %s)\t\t\n", store)
	fmt.Fprintf(tw, "pairs, rate asked / achieved\t%d, %d msg/s / %.0f msg/s over %s\n", bf.chatPairs, bf.chatRate, achieved, bf.chatDuration)
	fmt.Fprintf(tw, "messages measured / received / failed\t%d / %d / %d\n", sent.Load(), n, failed.Load())
	fmt.Fprintf(tw, "send → receive p50\t%s\n", ms(p50))
	ok := int64(n) == sent.Load() && failed.Load() == 0
	fmt.Fprintf(tw, "send → receive p99\t%s\t(target ≤ 15 ms, none failed: %s)\n", ms(p99), verdict(p99 <= targetChatP99 && ok))
	fmt.Fprintf(tw, "send → receive max\t%s\n", ms(max))
	fmt.Fprintf(tw, "send → ack p50 / p99 / max\t%s / %s / %s\t(p99 target ≤ 20 ms: %s)\n", ms(a50), ms(a99), ms(amax),
		verdict(a99 <= targetChatAckP99 && ok))
	for _, r := range reasons.top(3) {
		fmt.Fprintf(tw, "failed: %d ×\t%s\n", r.n, r.what)
	}
	_ = tw.Flush()
	fmt.Println()
	return nil
}

// tally counts failures by their message, so a report says why sends failed.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[what]++
}

type count struct {
	what string
	n    int
}

// top returns the k most frequent failures, most frequent first.
func (t *tally) top(k int) []count {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]count, 0, len(t.n))
	for w, n := range t.n {
		out = append(out, count{w, n})
	}
	slices.SortFunc(out, func(a, b count) int { return b.n - a.n })
	return out[:min(k, len(out))]
}
