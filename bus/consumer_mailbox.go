package bus

import (
	"container/heap"
	"context"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The consumer's mailboxes: every held message waits in the mailbox of its key (or in a
// mailbox of its own when the consumer has no key) until a worker takes it. See [Consumer].

// mailbox is one key's queue. scheduled is true while it is in the ready list, running, or
// waiting for a retry: a mailbox is never in two of those places, which is what serialises
// a key. parked holds messages that wait for an earlier one of the key (see [NotYet]); a
// mailbox with only parked messages stays in boxes, unscheduled.
type mailbox struct {
	key       string
	keyed     bool
	queue     []*delivery
	parked    []*delivery
	scheduled bool
}

// delivery is one message in the consumer's hands.
type delivery struct {
	js         jetstream.Msg
	msg        *Msg
	order      uint64 // arrival order in this consumer
	deliveries uint64 // the server's count for this delivery
	attempt    int    // deliveries plus in-place retries
	parkedAt   time.Time
	gapOK      bool // its predecessor can no longer arrive: apply it anyway
}

// enqueue holds a message and puts it in its mailbox.
func (c *Consumer) enqueue(jm jetstream.Msg) {
	d := &delivery{js: jm, msg: c.toMsg(jm)}
	d.deliveries = d.msg.Deliveries
	d.attempt = int(d.deliveries)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arrived++
	d.order = c.arrived
	c.held[d] = struct{}{}
	if c.cfg.key == nil {
		heap.Push(&c.ready, &mailbox{queue: []*delivery{d}, scheduled: true})
		c.work.Signal()
		return
	}
	key := c.cfg.key(d.msg)
	b := c.boxes[key]
	if b == nil {
		b = &mailbox{key: key, keyed: true}
		c.boxes[key] = b
	}
	b.queue = append(b.queue, d)
	if !b.scheduled {
		b.scheduled = true
		heap.Push(&c.ready, b)
		c.work.Signal()
	}
}

// worker runs the head message of the oldest ready mailbox, then puts the mailbox back in
// line by its next message. With WithBatch it takes the heads of up to the batch size of the
// oldest ready mailboxes (so of distinct keys) and runs them as one batch.
func (c *Consumer) worker() {
	defer c.workers.Done()
	boxes := make([]*mailbox, 0, c.cfg.batch)
	ds := make([]*delivery, 0, c.cfg.batch)
	for {
		c.mu.Lock()
		for !c.closing && (len(c.ready) == 0 || c.holdBack()) {
			c.work.Wait()
		}
		if c.closing {
			c.mu.Unlock()
			return
		}
		boxes, ds = boxes[:0], ds[:0]
		for len(c.ready) > 0 && len(boxes) < c.cfg.batch {
			b := heap.Pop(&c.ready).(*mailbox)
			boxes = append(boxes, b)
			ds = append(ds, b.queue[0])
		}
		if c.cfg.batch > 1 {
			c.batches++
			if len(c.ready) > 0 {
				// What this batch left may be enough for another: a worker that held back
				// (and consumed its wake-up) looks again.
				c.work.Signal()
			}
		}
		c.mu.Unlock()

		if len(ds) == 1 {
			res, retryIn := c.process(ds[0])
			c.mu.Lock()
			c.done(boxes[0], ds[0], res, retryIn)
			if c.cfg.batch > 1 {
				c.batches--
			}
			c.mu.Unlock()
			continue
		}
		res, retryIn := c.processBatch(ds)
		c.mu.Lock()
		for i, b := range boxes {
			c.done(b, ds[i], res[i], retryIn[i])
		}
		c.batches--
		c.mu.Unlock()
		clear(boxes)
		clear(ds)
	}
}

// holdBack reports that a free worker should leave the ready mailboxes for a while: with
// batching, a batch of less than half the batch size starts only when no other batch runs.
// This is group commit: the messages that become ready while batches run wait (at most until
// a batch ends) to join a batch of useful size, instead of each free worker committing the one
// or two it finds, which splits the keys into small batches for good. Batches of half size or
// more run in parallel: a batch runs its handlers one after the other, so parallel batches are
// what keeps the database's round trips overlapped. Called with c.mu held.
func (c *Consumer) holdBack() bool {
	return c.cfg.batch > 1 && c.batches > 0 && len(c.ready) < (c.cfg.batch+1)/2
}

// done puts b, whose head d was processed with result res, back in line (or out of the
// consumer). Called with c.mu held.
func (c *Consumer) done(b *mailbox, d *delivery, res result, retryIn time.Duration) {
	switch res {
	case settled:
		delete(c.held, d)
		b.queue[0] = nil
		b.queue = b.queue[1:]
		c.unpark(b) // what waited for this message (or for any settle of the key) goes next
	case parked:
		c.park(b, d)
	}
	switch {
	case len(b.queue) == 0:
		b.scheduled = false
		if b.keyed && len(b.parked) == 0 {
			delete(c.boxes, b.key)
		}
	case c.closing:
		b.scheduled = false // what it holds is naked by wait
	case res == retry:
		time.AfterFunc(retryIn, func() { c.requeue(b) })
	default:
		c.readyPush(b)
	}
}

// requeue gives a mailbox whose head waited out its backoff a turn again.
func (c *Consumer) requeue(b *mailbox) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		b.scheduled = false
		return
	}
	c.readyPush(b)
}

// readyPush puts a scheduled mailbox in the ready heap and wakes a worker. Called with c.mu held.
func (c *Consumer) readyPush(b *mailbox) {
	heap.Push(&c.ready, b)
	c.work.Signal()
}

// readyHeap orders ready mailboxes by the arrival of their head message. A head never changes
// while its mailbox is in the heap (messages are only appended behind it).
type readyHeap []*mailbox

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].queue[0].order < h[j].queue[0].order }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)        { *h = append(*h, x.(*mailbox)) }
func (h *readyHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}

// keepAlive extends the ack deadline of every message the consumer holds (running, waiting
// in a mailbox or waiting for a retry), so the server does not redeliver work that is merely
// queued or slow. It runs until the last handler has returned, shutdown included.
func (c *Consumer) keepAlive() {
	defer close(c.tickDone)
	t := time.NewTicker(max(c.spec.AckWait/3, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.tickStop:
			return
		case <-t.C:
			c.mu.Lock()
			held := make([]*delivery, 0, len(c.held))
			for d := range c.held {
				held = append(held, d)
			}
			c.mu.Unlock()
			for _, d := range held {
				_ = d.js.InProgress()
			}
			if c.cfg.key != nil && c.checking.CompareAndSwap(false, true) {
				// Apart, so that a slow server answer never delays the next InProgress.
				go func() {
					defer c.checking.Store(false)
					ctx, cancel := context.WithTimeout(c.rt.ctx, max(c.spec.AckWait, time.Second))
					defer cancel()
					c.checkParked(ctx)
				}()
			}
		}
	}
}

// stopFetching stops taking messages and starting handlers; running handlers finish. What the
// client had buffered still arrives, to be handed back by wait.
func (c *Consumer) stopFetching() {
	c.stopOnce.Do(func() {
		close(c.stopCh)
		c.iterMu.Lock()
		c.iter.Drain()
		c.iterMu.Unlock()
		c.unwatchFn()
		c.mu.Lock()
		c.closing = true
		close(c.quit)
		c.work.Broadcast()
		c.mu.Unlock()
	})
}

// wait returns when the fetch loop is done and the running handlers have returned. Messages
// still waiting in mailboxes are naked, lowest sequence first, so another instance (or the
// next start) takes them at once instead of after AckWait.
func (c *Consumer) wait() {
	<-c.loopDone
	c.waitOnce.Do(func() {
		c.workers.Wait()
		close(c.tickStop)
		<-c.tickDone
		c.mu.Lock()
		left := make([]*delivery, 0, len(c.held))
		for d := range c.held {
			left = append(left, d)
		}
		c.held = map[*delivery]struct{}{}
		c.mu.Unlock()
		sort.Slice(left, func(i, j int) bool { return left[i].msg.Sequence < left[j].msg.Sequence })
		for _, d := range left {
			_ = d.js.Nak()
		}
	})
}

// Stop stops taking messages and waits for running handlers; messages not started yet are
// handed back to the server.
func (c *Consumer) Stop() {
	c.stopFetching()
	c.wait()
}
