package bench

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

var benchService = contracts.Service{Name: "bench", Version: "1.0.0", Major: 1, Description: "benchmark echo"}

// EpEcho is the typed endpoint of the request-reply benchmark: it returns its request.
var EpEcho = contracts.Endpoint[Payload, Payload]{Service: benchService, Name: "echo", Timeout: 5 * time.Second, Idempotent: true}

// RawSubject is the raw responder's subject; RawConcurrentSubject the concurrent one's.
const (
	RawSubject           = "benchraw.v1.echo"
	RawConcurrentSubject = "benchraw.v1.echo_concurrent"
)

// ReqReply holds the responders (on one connection) and the callers (on another) of the
// request-reply benchmark. Each path is one function making one call.
type ReqReply struct {
	// Raw: nats.Conn.Request to a plain subscription; both sides encode and decode the JSON.
	Raw func() error
	// RawConcurrent: the same, but the responder handles each request in its own goroutine,
	// as Moa does so that one slow request does not hold up the others. The difference to Raw
	// is the price of concurrent handling itself, whatever the framework.
	RawConcurrent func() error
	// Plain: bus.Call on a client made WithoutResilience, to a bus.Handle endpoint.
	Plain func() error
	// Resilient: bus.Call on a default client (retries, breaker, bulkhead composed).
	Resilient func() error

	srvConn, cliConn *nats.Conn
	srvRT, cliRT     *bus.Runtime
}

// NewReqReply starts the responders and builds the callers.
func NewReqReply(env *Env) (*ReqReply, error) {
	r := &ReqReply{}
	var err error
	if r.srvConn, err = env.Connect("bench-responders"); err != nil {
		return nil, err
	}
	if r.cliConn, err = env.Connect("bench-callers"); err != nil {
		r.Close()
		return nil, err
	}
	quiet := bus.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if r.srvRT, err = bus.New(r.srvConn, quiet); err != nil {
		r.Close()
		return nil, err
	}
	if r.cliRT, err = bus.New(r.cliConn, quiet); err != nil {
		r.Close()
		return nil, err
	}
	svc, err := r.srvRT.AddService(benchService)
	if err != nil {
		r.Close()
		return nil, err
	}
	if err := bus.Handle(svc, EpEcho, func(_ context.Context, p Payload) (Payload, error) { return p, nil }); err != nil {
		r.Close()
		return nil, err
	}
	echo := func(m *nats.Msg) {
		var p Payload
		if err := json.Unmarshal(m.Data, &p); err != nil {
			return
		}
		b, _ := json.Marshal(p)
		_ = m.Respond(b)
	}
	if _, err = r.srvConn.QueueSubscribe(RawSubject, "q", echo); err != nil {
		r.Close()
		return nil, err
	}
	if _, err = r.srvConn.QueueSubscribe(RawConcurrentSubject, "q", func(m *nats.Msg) { go echo(m) }); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.srvConn.Flush(); err != nil {
		r.Close()
		return nil, err
	}

	payload := NewPayload()
	rawCall := func(subject string) func() error {
		return func() error {
			b, err := json.Marshal(payload)
			if err != nil {
				return err
			}
			m, err := r.cliConn.Request(subject, b, 5*time.Second)
			if err != nil {
				return err
			}
			var p Payload
			return json.Unmarshal(m.Data, &p)
		}
	}
	r.Raw, r.RawConcurrent = rawCall(RawSubject), rawCall(RawConcurrentSubject)
	plain := r.cliRT.NewClientWith("bench-plain", bus.WithoutResilience())
	r.Plain = func() error {
		_, err := bus.Call(context.Background(), plain, EpEcho, payload)
		return err
	}
	resilient := r.cliRT.NewClient("bench-resilient")
	r.Resilient = func() error {
		_, err := bus.Call(context.Background(), resilient, EpEcho, payload)
		return err
	}
	return r, nil
}

// Close stops the runtimes and closes both connections.
func (r *ReqReply) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, rt := range []*bus.Runtime{r.cliRT, r.srvRT} {
		if rt != nil {
			_ = rt.Close(ctx, false)
		}
	}
	for _, nc := range []*nats.Conn{r.cliConn, r.srvConn} {
		if nc != nil {
			nc.Close()
		}
	}
}
