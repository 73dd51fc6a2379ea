package edge

import (
	"slices"
	"sync"
	"time"
)

// The notify service numbers a user's notifications 1, 2, 3… in commit order, but publishes
// each after its own transaction committed, from concurrent workers and instances: under load
// push n+1 can reach NATS before push n. A client treats that as a lost push (a gap) and
// resumes, for nothing. So the edge puts each user's notification pushes back in sequence
// order before they reach the connections, waiting a moment for a missing one; a push that
// is really lost only delays the next ones by that moment, and the client sees the gap.

const (
	// notifyReorderWait is how long pushes after a missing sequence wait for it. The missing
	// push is normally microseconds to milliseconds behind; past this it is taken as lost.
	notifyReorderWait = 500 * time.Millisecond
	// notifyMaxHeld bounds the pushes held for one user; past it they go out as they are.
	notifyMaxHeld = 256
)

// seqOrder is one user topic's notification order. The shard goroutine of the topic's
// subject, the wait's timer and resume answers all use it, under mu; frames leave in order
// because they are queued on the connections with mu held (queuing never blocks).
type seqOrder struct {
	mu    sync.Mutex
	known bool   // last is set: a push went out, or a resume told the user's latest sequence
	last  uint64 // the highest sequence sent on
	held  map[uint64][]byte
	timer *time.Timer
	wait  uint64 // counts the waits started, so that a stopped wait's late timer does nothing
}

// admit takes push seq (encoded as frame) and returns the frames to send now, in order.
// expire is what the wait's timer calls, with the wait's number.
func (o *seqOrder) admit(seq uint64, frame []byte, expire func(wait uint64)) [][]byte {
	switch {
	case !o.known:
		// Nothing to order against yet (the user's first push on this edge before any
		// resume answer): it sets the baseline.
		o.known, o.last = true, seq
		return [][]byte{frame}
	case seq <= o.last:
		// A late one (sent on after the wait) or a repeat: the client drops it by sequence.
		return [][]byte{frame}
	case seq == o.last+1:
		out := [][]byte{frame}
		o.last = seq
		for {
			f, ok := o.held[o.last+1]
			if !ok {
				break
			}
			delete(o.held, o.last+1)
			out = append(out, f)
			o.last++
		}
		o.rearm(expire)
		return out
	}
	if o.held == nil {
		o.held = map[uint64][]byte{}
	}
	o.held[seq] = frame
	if len(o.held) > notifyMaxHeld {
		return o.release()
	}
	if o.timer == nil {
		o.startWait(expire)
	}
	return nil
}

// startWait starts waiting for the missing pushes.
func (o *seqOrder) startWait(expire func(wait uint64)) {
	o.wait++
	n := o.wait
	o.timer = time.AfterFunc(notifyReorderWait, func() { expire(n) })
}

// stopWait stops the wait; a timer that already fired finds its number outdated.
func (o *seqOrder) stopWait() {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
		o.wait++
	}
}

// rearm restarts the wait after progress while pushes are still held, and stops it when
// none are.
func (o *seqOrder) rearm(expire func(wait uint64)) {
	o.stopWait()
	if len(o.held) > 0 {
		o.startWait(expire)
	}
}

// release returns every held push in sequence order and takes the gaps before them as lost.
func (o *seqOrder) release() [][]byte {
	o.stopWait()
	seqs := make([]uint64, 0, len(o.held))
	for s := range o.held {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	out := make([][]byte, 0, len(seqs))
	for _, s := range seqs {
		out = append(out, o.held[s])
	}
	if len(seqs) > 0 {
		o.last = max(o.last, seqs[len(seqs)-1])
	}
	o.held = nil
	return out
}

// seed sets the baseline from a resume answer (the user's latest stored sequence) when no
// push set it yet, so that the first pushes after a connect are ordered too.
func (o *seqOrder) seed(lastSeq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.known {
		o.known, o.last = true, lastSeq
	}
}

// deliverNotification sends one notification push of a user topic on, in sequence order.
func (h *hub) deliverNotification(subject string, o *seqOrder, seq uint64, frame, wire []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.known || (seq == o.last+1 && len(o.held) == 0 && o.timer == nil) {
		// The usual case, the next push in order (or the first): admit's answer without the
		// slice and the timer's closure it would allocate for every push.
		o.known, o.last = true, seq
		h.sendOneLocked(subject, o, frame, wire)
		return
	}
	h.sendLocked(subject, o, o.admit(seq, frame, func(wait uint64) { h.expireHeld(subject, o, wait) }))
}

// sendOneLocked is sendLocked for one frame and its WebSocket encoding.
func (h *hub) sendOneLocked(subject string, o *seqOrder, frame, wire []byte) {
	h.mu.RLock()
	t := h.topics[subject]
	var conns []*conn
	if t != nil && t.order == o {
		conns = t.conns
		if len(conns) > 1 {
			conns = append([]*conn(nil), conns...)
		}
	}
	var one *conn
	if len(conns) == 1 {
		one = conns[0] // t.conns may change once the lock is released: no reference to it kept
		conns = nil
	}
	h.mu.RUnlock()
	if one != nil {
		one.enqueueWire(frame, wire)
		h.metrics.pushes.Inc()
		return
	}
	for _, c := range conns {
		c.enqueueWire(frame, wire)
	}
	h.metrics.pushes.Add(float64(len(conns)))
}

// expireHeld sends the held pushes on when the missing ones did not come in time.
func (h *hub) expireHeld(subject string, o *seqOrder, wait uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if wait != o.wait {
		return // stopped (the gap filled, or a newer wait runs) after the timer fired
	}
	h.sendLocked(subject, o, o.release())
}

// sendLocked queues frames on the topic's connections; o.mu is held. A topic that was left
// and joined again has a new order, and the old one's frames go nowhere.
func (h *hub) sendLocked(subject string, o *seqOrder, frames [][]byte) {
	if len(frames) == 0 {
		return
	}
	h.mu.RLock()
	t := h.topics[subject]
	var conns []*conn
	if t != nil && t.order == o {
		conns = append(conns, t.conns...)
	}
	h.mu.RUnlock()
	for _, f := range frames {
		wire := wireText(f) // encoded once for every connection (enqueueWire)
		for _, c := range conns {
			c.enqueueWire(f, wire)
		}
	}
	h.metrics.pushes.Add(float64(len(conns) * len(frames)))
}

// seedOrder passes a resume answer's latest sequence to the user topic's order.
func (h *hub) seedOrder(subject string, lastSeq uint64) {
	h.mu.RLock()
	t := h.topics[subject]
	var o *seqOrder
	if t != nil {
		o = t.order
	}
	h.mu.RUnlock()
	if o != nil {
		o.seed(lastSeq)
	}
}
