package outbox

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// expectedLastMsgID is the JetStream header that chains a batch's rows (see publish).
const expectedLastMsgID = "Nats-Expected-Last-Msg-Id"

// chainRoom is what the chain header may add to a row's message: its line, with an event id
// of up to 64 bytes (Emit's are UUIDs, 36).
const chainRoom = len(expectedLastMsgID) + len(": \r\n") + 64

// checkSize refuses, with payload_too_large, an event the NATS server could never take: the
// message the relay would publish (the envelope as PostgreSQL's jsonb prints it, plus its
// headers) above the server's max_payload. The limit is that of the servers this process's
// relays are connected to; with no relay in this process it is unknown and nothing is
// refused here (the relay that finds such a row dead-letters it). It runs before the INSERT,
// so the caller's transaction is untouched.
func checkSize(ctx context.Context, tx pgx.Tx, eventID, typ, traceParent, traceState string, body []byte) error {
	limit := serverLimit(ctx, tx)
	if limit <= 0 {
		return nil
	}
	// body is unstamped: its key_version may still grow by keyVersionRoom.
	size := int64(jsonbTextBound(body) + keyVersionRoom + headerSize(rowHeader(eventID, typ, traceParent, traceState)) + chainRoom)
	if size > limit {
		return contracts.ErrPayloadTooBig.Msg("the event %s is %d bytes as published, with its headers; the server accepts %d", typ, size, limit)
	}
	return nil
}

// serverLimit is the max_payload of the NATS servers of this process's relays: of the relays
// of the pool tx belongs to when Transact or the inbox says which, else of all of them (the
// smallest), or 0 when no relay runs here.
func serverLimit(ctx context.Context, tx pgx.Tx) int64 {
	var c committer
	if v, ok := ctx.Value(committerKey{}).(committer); ok {
		c = v
	} else if v, ok := ctx.Value(txKey{}).(inboxTxValue); ok {
		c = committer{tx: v.tx, pool: v.pool}
	}
	local.mu.Lock()
	defer local.mu.Unlock()
	var limit int64
	take := func(relays map[*Relay]struct{}) {
		for r := range relays {
			if mp := r.rt.Conn().MaxPayload(); mp > 0 && (limit == 0 || mp < limit) {
				limit = mp
			}
		}
	}
	if c.tx == tx && len(local.relays[c.pool]) > 0 {
		take(local.relays[c.pool])
		return limit
	}
	for _, relays := range local.relays {
		take(relays)
	}
	return limit
}

// rowHeader is the header of a row's message, as rowMsg sets it.
func rowHeader(eventID, typ, traceParent, traceState string) nats.Header {
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, eventID)
	h.Set(bus.HeaderEventType, typ)
	if traceParent != "" {
		h.Set("traceparent", traceParent)
	}
	if traceState != "" {
		h.Set("tracestate", traceState)
	}
	return h
}

// headerSize is the size of h on the wire, as NATS counts it against max_payload.
func headerSize(h nats.Header) int {
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// jsonbTextBound bounds the size of compact JSON body once stored as jsonb and printed back,
// which is what the relay publishes: jsonb prints a space after every ':' and ',' (up to half
// as much again), and writes numbers out without exponents (1e-7 is 0.0000001). Everything
// else prints at most as long as encoding/json wrote it. body is well-formed (json.Marshal's).
func jsonbTextBound(body []byte) int {
	n := len(body)
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		case c == ':' || c == ',':
			n++
		case c == 'e' || c == 'E':
			// Inside a number (true and false are letters too, but no digit precedes them).
			if i > 0 && body[i-1] >= '0' && body[i-1] <= '9' {
				j := i + 1
				if j < len(body) && (body[j] == '+' || body[j] == '-') {
					j++
				}
				k := j
				for k < len(body) && body[k] >= '0' && body[k] <= '9' {
					k++
				}
				exp, err := strconv.Atoi(string(body[j:k]))
				if err != nil || exp > 1<<20 {
					exp = 1 << 20 // PostgreSQL refuses such a number anyway
				}
				n += exp + len("-0.")
				i = k - 1
			}
		}
	}
	return n
}
