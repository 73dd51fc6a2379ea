package bus

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/moa-run/moa/contracts"
)

// Header names Moa puts on the wire. Trace context uses the W3C names (traceparent,
// tracestate) written by the OpenTelemetry propagator.
const (
	// HeaderTimeout carries the caller's remaining time in milliseconds. A relative value, not
	// an absolute deadline, so that clock skew between hosts cannot stretch or cut it; each hop
	// re-derives it from its own context, so it only ever shrinks along a call chain.
	HeaderTimeout = "Moa-Timeout-Ms"
	// HeaderDegraded is set on replies produced by a fallback instead of the real handler.
	HeaderDegraded = "Moa-Degraded"
	// HeaderErrorCode and HeaderError are the micro package's error headers; Moa puts the
	// stable catalogue code in the first and the human message in the second. The body of an
	// error reply is the JSON form of contracts.Error.
	HeaderErrorCode = micro.ErrorCodeHeader
	HeaderError     = micro.ErrorHeader
)

// setTimeout writes the remaining time of ctx into h.
func setTimeout(h nats.Header, remaining time.Duration) {
	ms := remaining.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	h.Set(HeaderTimeout, strconv.FormatInt(ms, 10))
}

// errorReply builds the wire form of err.
func errorReply(err error) *nats.Msg {
	ce := contracts.AsError(err)
	body, _ := json.Marshal(ce)
	m := nats.NewMsg("")
	m.Header.Set(HeaderErrorCode, ce.Code)
	m.Header.Set(HeaderError, ce.Message)
	m.Data = body
	return m
}

// replyError turns an error reply back into a *contracts.Error, or returns nil when msg is not
// an error reply. Codes this binary does not know keep their code and get kind internal, so a
// newer server never makes an older client lose the code.
func replyError(msg *nats.Msg) *contracts.Error {
	code := msg.Header.Get(HeaderErrorCode)
	if code == "" {
		return nil
	}
	var ce contracts.Error
	if len(msg.Data) > 0 && json.Unmarshal(msg.Data, &ce) == nil && ce.Code != "" {
		if known := contracts.Lookup(ce.Code); known != nil {
			ce.Kind = known.Kind
		}
		return &ce
	}
	// A non-Moa micro service: keep its code and description.
	if known := contracts.Lookup(code); known != nil {
		return known.Msg("%s", msg.Header.Get(HeaderError))
	}
	return &contracts.Error{Code: code, Kind: contracts.KindInternal, Message: msg.Header.Get(HeaderError)}
}
