package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// Dead-letter headers. A dead letter keeps the original body and headers and adds these, so
// `moa dlq` can show why it failed and replay it to its original subject.
const (
	HeaderDLQSubject    = "Moa-Dlq-Subject"
	HeaderDLQStream     = "Moa-Dlq-Stream"
	HeaderDLQSequence   = "Moa-Dlq-Sequence"
	HeaderDLQConsumer   = "Moa-Dlq-Consumer"
	HeaderDLQDeliveries = "Moa-Dlq-Deliveries"
	HeaderDLQError      = "Moa-Dlq-Error"
	HeaderDLQErrorCode  = "Moa-Dlq-Error-Code"
	HeaderDLQTime       = "Moa-Dlq-Time"
	// HeaderDLQMsgID keeps the original Nats-Msg-Id (the event id); the dead letter's own
	// Nats-Msg-Id is its dedupe key in the dead-letter stream.
	HeaderDLQMsgID = "Moa-Dlq-Msg-Id"
	// HeaderDLQOutbox marks a dead letter of the outbox relay (an event the stream refused for
	// good, never delivered to any consumer): the id of its row in moa_outbox. Its consumer is
	// the relay's name; a replay is for every consumer of the stream.
	HeaderDLQOutbox = "Moa-Dlq-Outbox"
)

// Replay headers, set by `moa dlq replay` on the message it re-publishes.
const (
	// HeaderReplayFor names the one consumer a replayed message is for. Other consumers of the
	// stream (which handled the original fine) ack it without running their handler.
	HeaderReplayFor = "Moa-Replay-For"
	// HeaderReplayOf is the dead-letter stream sequence the message was replayed from.
	HeaderReplayOf = "Moa-Replay-Of"
	// HeaderOriginalMsgID is the Nats-Msg-Id of the original message: a replay needs a new one
	// to get past the stream's duplicate window, and inboxes that key on message ids (rather
	// than envelope ids) use this one.
	HeaderOriginalMsgID = "Moa-Original-Msg-Id"
)

// DeadLetterSubject is where a consumer's dead letters go: dlq.<stream>.<consumer>.
func DeadLetterSubject(stream, consumer string) string {
	return contracts.Join("dlq", stream, consumer)
}

// DeadLetter builds the dead letter of one stream message for consumer: the original body and
// headers plus the Moa-Dlq-* headers. Its Nats-Msg-Id is derived from (stream, sequence,
// consumer), so recording the same failure twice (two instances, a retry after a lost PubAck)
// leaves one dead letter.
func DeadLetter(stream, consumer, subject string, seq uint64, header nats.Header, data []byte, deliveries int, cause error) *nats.Msg {
	ce := contracts.AsError(cause)
	text := cause.Error()
	if len(text) > 1024 {
		text = text[:1024]
	}
	dl := nats.NewMsg(DeadLetterSubject(stream, consumer))
	for k, v := range header {
		if !strings.HasPrefix(k, "Nats-") {
			dl.Header[k] = v
		}
	}
	dl.Header.Set(HeaderDLQSubject, subject)
	dl.Header.Set(HeaderDLQStream, stream)
	dl.Header.Set(HeaderDLQSequence, strconv.FormatUint(seq, 10))
	dl.Header.Set(HeaderDLQConsumer, consumer)
	dl.Header.Set(HeaderDLQDeliveries, strconv.Itoa(deliveries))
	dl.Header.Set(HeaderDLQError, text)
	dl.Header.Set(HeaderDLQErrorCode, ce.Code)
	dl.Header.Set(HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	if id := header.Get(jetstream.MsgIDHeader); id != "" {
		dl.Header.Set(HeaderDLQMsgID, id)
	}
	dl.Header.Set(jetstream.MsgIDHeader, stream+"."+strconv.FormatUint(seq, 10)+"."+consumer)
	dl.Data = data
	return dl
}

// deadLetter stores the message in the dead-letter stream, then terminates it. The message is
// never dropped: while the dead-letter stream cannot take it, the consumer keeps it (alive,
// with InProgress) and retries; only a stopping consumer hands it back to the server.
func (c *Consumer) deadLetter(d *delivery, cause error, deliveries int) {
	dl := DeadLetter(c.spec.Stream.Name, c.spec.Durable, d.msg.Subject, d.msg.Sequence, d.msg.Header, d.msg.Data, deliveries, cause)
	wait := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.rt.js.PublishMsg(ctx, dl)
		cancel()
		if err == nil {
			break
		}
		c.rt.log.Error("dead letter failed; holding the message and retrying", "consumer", c.spec.Durable, "seq", d.msg.Sequence, "error", err)
		select {
		case <-time.After(wait):
			wait = min(2*wait, 5*time.Second)
		case <-c.quit:
			_ = d.js.Nak()
			return
		}
	}
	c.rt.metrics.deadLet.WithLabelValues(c.service, c.spec.Durable).Inc()
	c.rt.log.Warn("dead-lettered", "consumer", c.spec.Durable, "subject", d.msg.Subject, "seq", d.msg.Sequence,
		"deliveries", deliveries, "code", dl.Header.Get(HeaderDLQErrorCode), "error", dl.Header.Get(HeaderDLQError))
	if err := d.js.TermWithReason("dead-lettered"); err != nil {
		c.rt.log.Warn("term after dead letter failed", "consumer", c.spec.Durable, "seq", d.msg.Sequence, "error", err)
	}
}

// maxDeliveriesAdvisory is the part of io.nats.jetstream.advisory.v1.max_deliver we use.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// MaxDeliveriesAdvisorySubject is where the server announces that a consumer's message ran
// out of deliveries without being acked.
func MaxDeliveriesAdvisorySubject(stream, consumer string) string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + "." + consumer
}

// DeadLetterExhausted dead-letters the messages the server gives up on for the durable consumer
// spec: those whose every delivery ended in an ack timeout (the consumer crashed or hung each
// time). The server stops delivering such a message and announces it once, on a core NATS
// advisory; one listening instance (a queue group) fetches it by sequence and dead-letters it.
// Every [Runtime.Consume] does this for its consumer; call it for a consumer run by other
// means. stop ends the watch.
//
// The advisory is not persisted: if no instance listens when it is sent, the message stays in
// the stream, undelivered; `nats stream get` is the way to it.
func (r *Runtime) DeadLetterExhausted(service string, spec contracts.ConsumerSpec) (stop func(), err error) {
	subj := MaxDeliveriesAdvisorySubject(spec.Stream.Name, spec.Durable)
	sub, err := r.nc.QueueSubscribe(subj, "moa-dlq-"+spec.Stream.Name+"-"+spec.Durable, func(m *nats.Msg) {
		var adv maxDeliveriesAdvisory
		if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
			r.log.Warn("unreadable max-deliveries advisory", "subject", m.Subject, "error", err)
			return
		}
		go r.deadLetterExhausted(service, spec, adv)
	})
	if err != nil {
		return nil, fmt.Errorf("bus: watch %s: %w", subj, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func (r *Runtime) deadLetterExhausted(service string, spec contracts.ConsumerSpec, adv maxDeliveriesAdvisory) {
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	log := r.log.With("consumer", spec.Durable, "stream", spec.Stream.Name, "seq", adv.StreamSeq)
	wait := 100 * time.Millisecond
	for {
		err := r.deadLetterSeq(ctx, service, spec, adv)
		if err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
			if err != nil {
				log.Warn("max deliveries reached for a message no longer in the stream")
			}
			return
		}
		log.Error("dead letter after max deliveries failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			log.Error("gave up dead-lettering an exhausted message; it stays in its stream")
			return
		case <-time.After(wait):
			wait = min(2*wait, 5*time.Second)
		}
	}
}

func (r *Runtime) deadLetterSeq(ctx context.Context, service string, spec contracts.ConsumerSpec, adv maxDeliveriesAdvisory) error {
	st, err := r.js.Stream(ctx, spec.Stream.Name)
	if err != nil {
		return err
	}
	raw, err := st.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return err
	}
	cause := contracts.ErrDeliveriesExhausted.Msg("delivered %d times, never acknowledged: the consumer crashed or hung on every delivery", adv.Deliveries)
	dl := DeadLetter(spec.Stream.Name, spec.Durable, raw.Subject, raw.Sequence, raw.Header, raw.Data, int(adv.Deliveries), cause)
	if _, err := r.js.PublishMsg(ctx, dl); err != nil {
		return err
	}
	r.metrics.deadLet.WithLabelValues(service, spec.Durable).Inc()
	r.log.Warn("dead-lettered after max deliveries", "consumer", spec.Durable, "subject", raw.Subject, "seq", raw.Sequence, "deliveries", adv.Deliveries)
	return nil
}

// EventID is the idempotency key of a message, the one inboxes record: the envelope id read
// from the body (unchanged by a `moa dlq replay`, which must give the message a new
// Nats-Msg-Id), else the original message id a replay carries, else its Nats-Msg-Id. A message
// with none of them fails permanently with contracts.ErrNoEventID.
func EventID(m *Msg) (string, error) {
	var env struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Data, &env) == nil && env.ID != "" {
		return env.ID, nil
	}
	if id := m.Header.Get(HeaderOriginalMsgID); id != "" {
		return id, nil
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
		return id, nil
	}
	return "", Permanent(contracts.ErrNoEventID.Msg("message on %s has no envelope id and no Nats-Msg-Id", m.Subject))
}
