package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// DeadLetterStream is the stream token of the outbox's dead letters: the relay named R
// dead-letters on dlq.outbox.R, and `moa dlq ls --stream outbox` lists them.
const DeadLetterStream = "outbox"

// JetStream error codes the relay tells apart (nats-server's jetstream_errors_generated.go).
const (
	jsErrHeaderExceedsMaximum = 10097 // the message's headers exceed 64 KiB
	jsErrWrongLastMsgID       = 10070 // Nats-Expected-Last-Msg-Id did not match
)

// unpublishable is why the relay gives up on a row: the reason is the row's own and no retry
// can change it.
type unpublishable struct{ cause *contracts.Error }

func (u *unpublishable) Error() string { return u.cause.Error() }
func (u *unpublishable) Unwrap() error { return u.cause }

// permanent returns the coded reason a row can never be published as things stand, or nil
// when err is transient: an outage (no server, no stream leader, no responders), a timeout, a
// full stream (DiscardNew limits: consumers or an operator make room), a broken chain, or
// anything the relay does not recognise. Only the row's own properties are permanent: its
// size against the server's max_payload or the stream's MaxMsgSize, its headers, its subject,
// an unreadable row.
func permanent(err error) *contracts.Error {
	var u *unpublishable
	var api *jetstream.APIError
	switch {
	case errors.As(err, &u):
		return u.cause
	case errors.Is(err, nats.ErrMaxPayload):
		return contracts.ErrPayloadTooBig.Msg("%v", err)
	case errors.Is(err, nats.ErrBadSubject):
		return contracts.ErrInvalidSubject.Msg("%v", err)
	case errors.As(err, &api):
		switch api.ErrorCode {
		case jetstream.JSErrCodeStreamMessageExceedsMaximum, jsErrHeaderExceedsMaximum:
			return contracts.ErrPayloadTooBig.Msg("%v", err)
		}
	}
	return nil
}

// brokenChain reports whether err is the stream refusing a row because the previous row of
// the batch is not its last message: that row was refused too, or another publisher came
// between them. Either way the row waits for the next batch.
func brokenChain(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jsErrWrongLastMsgID
}

// deadLetter stores row x's dead letter in the DLQ stream: the message the relay could not
// publish, with the Moa-Dlq-* headers (Moa-Dlq-Outbox names the row) and cause. Its Nats-Msg-Id
// is derived from the event id, so a batch retried after a failed commit stores it once. When
// the dead-letter stream cannot hold the body either (it is above the server's max_payload),
// the letter goes without it; the row keeps it.
func (r *Relay) deadLetter(ctx context.Context, x row, cause *contracts.Error) error {
	var header nats.Header
	if msg, err := rowMsg(x); err == nil {
		header = msg.Header
	} else {
		header = nats.Header{jetstream.MsgIDHeader: []string{x.eventID}}
	}
	dl := bus.DeadLetter(DeadLetterStream, r.dlqName, x.subject, 0, header, x.body, 0, cause)
	dl.Header.Del(bus.HeaderDLQSequence)
	dl.Header.Set(bus.HeaderDLQOutbox, strconv.FormatInt(x.id, 10))
	dl.Header.Set(jetstream.MsgIDHeader, "outbox."+x.eventID)
	if max := r.rt.Conn().MaxPayload(); max > 0 && int64(len(dl.Data)+headerSize(dl.Header)) > max {
		dropBody(dl)
	}
	_, err := r.js.PublishMsg(ctx, dl)
	if err != nil && permanent(err) != nil && len(dl.Data) > 0 {
		dropBody(dl) // the dead-letter stream's own MaxMsgSize
		_, err = r.js.PublishMsg(ctx, dl)
	}
	if err != nil {
		return fmt.Errorf("dead-letter outbox row %d: %w", x.id, err)
	}
	return nil
}

func dropBody(dl *nats.Msg) {
	dl.Data = nil
	dl.Header.Set(bus.HeaderDLQError, strings.TrimSpace(dl.Header.Get(bus.HeaderDLQError)+
		" (body left out: too large for the dead-letter stream; the row keeps it in moa_outbox)"))
}
