package bus

import (
	"context"
	"strconv"
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
)

// DeadLetterSubject is where a consumer's dead letters go: dlq.<stream>.<consumer>.
func DeadLetterSubject(stream, consumer string) string {
	return contracts.Join("dlq", stream, consumer)
}

// deadLetter stores the message in the dead-letter stream, then terminates it. If the
// dead-letter stream cannot take it, the message is naked instead: it is never dropped.
func (c *Consumer) deadLetter(d *delivery, cause error, deliveries int) {
	ce := contracts.AsError(cause)
	text := cause.Error()
	if len(text) > 1024 {
		text = text[:1024]
	}
	dl := nats.NewMsg(DeadLetterSubject(c.spec.Stream.Name, c.spec.Durable))
	for k, v := range d.msg.Header {
		dl.Header[k] = v
	}
	dl.Header.Set(HeaderDLQSubject, d.msg.Subject)
	dl.Header.Set(HeaderDLQStream, c.spec.Stream.Name)
	dl.Header.Set(HeaderDLQSequence, strconv.FormatUint(d.msg.Sequence, 10))
	dl.Header.Set(HeaderDLQConsumer, c.spec.Durable)
	dl.Header.Set(HeaderDLQDeliveries, strconv.Itoa(deliveries))
	dl.Header.Set(HeaderDLQError, text)
	dl.Header.Set(HeaderDLQErrorCode, ce.Code)
	dl.Header.Set(HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	// One dead letter per (stream message, consumer), even if this runs twice.
	dl.Header.Set(jetstream.MsgIDHeader, c.spec.Stream.Name+"."+strconv.FormatUint(d.msg.Sequence, 10)+"."+c.spec.Durable)
	dl.Data = d.msg.Data

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.rt.js.PublishMsg(ctx, dl); err != nil {
		c.rt.log.Error("dead letter failed; message kept for redelivery", "consumer", c.spec.Durable, "seq", d.msg.Sequence, "error", err)
		_ = d.js.NakWithDelay(c.backoff(deliveries))
		return
	}
	c.rt.metrics.deadLet.WithLabelValues(c.service, c.spec.Durable).Inc()
	c.rt.log.Warn("dead-lettered", "consumer", c.spec.Durable, "subject", d.msg.Subject, "seq", d.msg.Sequence, "deliveries", deliveries, "code", ce.Code, "error", text)
	if err := d.js.Term(); err != nil {
		c.rt.log.Warn("term after dead letter failed", "consumer", c.spec.Durable, "seq", d.msg.Sequence, "error", err)
	}
}
