package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Per-key order across crashes. A keyed consumer applies a key's messages in the order they
// reach it, but after a crash that is not stream order: the dead instance's unacked messages
// come back only when their ack deadline passes, while the messages it never received are
// delivered at once. Order that must survive that needs a durable record of what was applied:
// the outbox stamps each event with a version per subject (its event type and key), the inbox
// records the last version applied in the effect's transaction, and answers [NotYet] for an
// event whose predecessor has not been applied. The consumer then parks that message (held and
// kept alive, not a failed attempt) and lets the key's later messages try, and retries the
// parked ones, lowest sequence first, whenever a message of the key settles. So the
// predecessor, whenever it comes back, runs first, and its successors follow.
//
// A predecessor may also never come: it was dead-lettered, trimmed from the stream, or sent
// before the consumer existed. The consumer accepts the gap ([KeyOrder] reports it to the
// inbox, which then applies the successor) once it can tell that no unacked message of the
// durable is outside its hands, so none of them can be the predecessor, or once a parked
// message has waited parkLimit ack waits, which bounds the wait when other instances of the
// durable keep messages in hand.

// EnvelopeKeyVersion is the envelope member in which the outbox stamps an event's version of
// its subject. It is in the body, not a header, so it survives every path an event takes: the
// relay, a dead letter and its replay.
const EnvelopeKeyVersion = "key_version"

// KeyVersion returns the version of its subject that an outbox stamped on the event in m, if
// any. Events without one (published directly, or written before versions) are not ordered
// by an inbox beyond what the consumer does.
func KeyVersion(m *Msg) (int64, bool) {
	if !bytes.Contains(m.Data, []byte(`"`+EnvelopeKeyVersion+`"`)) {
		return 0, false // the common unversioned body costs no decode
	}
	var env struct {
		KeyVersion int64 `json:"key_version"`
	}
	if json.Unmarshal(m.Data, &env) != nil || env.KeyVersion <= 0 {
		return 0, false
	}
	return env.KeyVersion, true
}

// parkLimit, in ack waits, bounds how long a message waits for a predecessor. A predecessor
// held by a dead instance is back within one ack wait; one held by a live instance is being
// handled. Beyond that the consumer stops waiting rather than hold the key forever.
const parkLimit = 4

// errNotYet is the inbox's answer for a message that must wait for an earlier one.
type errNotYet struct{ msg string }

func (e errNotYet) Error() string { return "not yet: " + e.msg }

// NotYet is what an ordering inbox returns when m must wait for an earlier message of its key
// (see [KeyOrder]). A keyed consumer parks such a message without counting an attempt; any
// other consumer treats it as a failure to retry.
func NotYet(format string, args ...any) error { return errNotYet{fmt.Sprintf(format, args...)} }

func isNotYet(err error) bool {
	var n errNotYet
	return errors.As(err, &n)
}

type keyOrderKey struct{}

// KeyOrder reports whether the handler runs in a keyed consumer, which can park a message the
// inbox answers [NotYet] for, and whether the consumer found that the predecessor of this
// message can no longer arrive (gapAccepted): the inbox then applies it anyway.
func KeyOrder(ctx context.Context) (ordered, gapAccepted bool) {
	gap, ok := ctx.Value(keyOrderKey{}).(bool)
	return ok, gap
}

// park takes the head of b's queue out of line until a message of its key settles. Called
// with c.mu held.
func (c *Consumer) park(b *mailbox, d *delivery) {
	b.queue[0] = nil
	b.queue = b.queue[1:]
	if d.parkedAt.IsZero() {
		d.parkedAt = time.Now()
	}
	b.parked = append(b.parked, d)
}

// unpark puts b's parked messages back in line ahead of the rest, the whole queue in stream
// order, so a predecessor that arrived after its successors runs before them. Called with c.mu
// held, while b is in no ready heap (its head may change).
func (c *Consumer) unpark(b *mailbox) {
	if len(b.parked) == 0 {
		return
	}
	b.queue = append(b.parked, b.queue...)
	b.parked = nil
	slices.SortStableFunc(b.queue, func(x, y *delivery) int {
		switch {
		case x.msg.Sequence < y.msg.Sequence:
			return -1
		case x.msg.Sequence > y.msg.Sequence:
			return 1
		}
		return 0
	})
}

// checkParked runs on the keep-alive tick. Parked messages of idle keys are tried again: their
// predecessor may have been applied elsewhere. If no unacked message of the durable is outside
// this consumer's hands, none can be the predecessor they wait for, and their gap is accepted;
// so it is for messages that waited parkLimit ack waits.
func (c *Consumer) checkParked(ctx context.Context) {
	c.mu.Lock()
	if !c.hasIdleParked() {
		c.mu.Unlock()
		return
	}
	before := make(map[*delivery]struct{}, len(c.held))
	for d := range c.held {
		before[d] = struct{}{}
	}
	c.mu.Unlock()

	// NumAckPending counts every delivered, unacked message of the durable, wherever it is. A
	// message held here both before and after the question was unacked all along, so it is in
	// the count: if the count is no larger than those, nothing else is pending anywhere.
	outside := true
	if jc, err := c.rt.js.Consumer(ctx, c.spec.Stream.Name, c.spec.Durable); err == nil {
		if info, err := jc.Info(ctx); err == nil {
			c.mu.Lock()
			both := 0
			for d := range c.held {
				if _, ok := before[d]; ok {
					both++
				}
			}
			c.mu.Unlock()
			outside = info.NumAckPending > both
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	limit := time.Duration(parkLimit) * c.spec.AckWait
	for _, b := range c.boxes {
		if b.scheduled || len(b.parked) == 0 {
			continue // not idle: a settle of this key retries its parked messages
		}
		for _, d := range b.parked {
			if _, ok := before[d]; ok && (!outside || time.Since(d.parkedAt) >= limit) {
				if !d.gapOK {
					c.rt.log.Warn("an earlier event of this key never came (dead-lettered, trimmed, or sent before the consumer existed); applying this one",
						"consumer", c.spec.Durable, "subject", d.msg.Subject, "seq", d.msg.Sequence, "waited", time.Since(d.parkedAt).Round(time.Millisecond))
				}
				d.gapOK = true
			}
		}
		c.unpark(b)
		b.scheduled = true
		c.readyPush(b)
	}
}

// hasIdleParked reports a key with parked messages and nothing running or queued. Called with
// c.mu held.
func (c *Consumer) hasIdleParked() bool {
	for _, b := range c.boxes {
		if !b.scheduled && len(b.parked) > 0 {
			return true
		}
	}
	return false
}
