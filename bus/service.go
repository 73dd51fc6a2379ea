package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/moa-run/moa/contracts"
)

// DefaultMaxInFlight bounds concurrent handlers per endpoint per instance. Past it the service
// answers contracts.ErrOverloaded at once instead of queueing without bound.
const DefaultMaxInFlight = 512

// Service is one micro service hosted by a runtime. Its endpoints run each request in its own
// goroutine, so a slow request does not hold up the ones behind it; the in-flight bound keeps
// that from growing without limit.
type Service struct {
	rt   *Runtime
	spec contracts.Service
	svc  micro.Service
	grp  micro.Group

	mu        sync.Mutex
	endpoints map[string]*endpoint
}

// endpoint is the runtime state of one registered endpoint.
type endpoint struct {
	name        string
	subject     string
	timeout     time.Duration
	handler     Handler
	slots       chan struct{} // in-flight bound
	inflight    atomic.Int64
	shed        atomic.Int64
	errors      atomic.Int64
	maxInFlight int
}

// EndpointStats is what Moa adds to an endpoint's $SRV.STATS entry (the "data" field).
type EndpointStats struct {
	InFlight    int64 `json:"in_flight"`
	MaxInFlight int   `json:"max_in_flight"`
	Shed        int64 `json:"shed"`
	Errors      int64 `json:"errors"`
}

// AddService registers a micro service on the runtime's connection. From this call on the
// service answers $SRV.PING, $SRV.INFO and $SRV.STATS; endpoints are added with [Handle].
func (r *Runtime) AddService(spec contracts.Service) (*Service, error) {
	s := &Service{rt: r, spec: spec, endpoints: map[string]*endpoint{}}
	svc, err := micro.AddService(r.nc, micro.Config{
		Name:        spec.Name,
		Version:     spec.Version,
		Description: spec.Description,
		Metadata:    map[string]string{"moa.subject_prefix": spec.Prefix()},
		StatsHandler: func(e *micro.Endpoint) any {
			s.mu.Lock()
			ep := s.endpoints[e.Name]
			s.mu.Unlock()
			if ep == nil {
				return nil
			}
			return EndpointStats{InFlight: ep.inflight.Load(), MaxInFlight: ep.maxInFlight, Shed: ep.shed.Load(), Errors: ep.errors.Load()}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("bus: add service %s: %w", spec.Name, err)
	}
	s.svc = svc
	s.grp = svc.AddGroup(spec.Prefix())
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		_ = svc.Stop()
		return nil, errors.New("bus: runtime closed")
	}
	r.services = append(r.services, s)
	return s, nil
}

// Name returns the service name.
func (s *Service) Name() string { return s.spec.Name }

// Micro returns the underlying micro service (for Info and Stats).
func (s *Service) Micro() micro.Service { return s.svc }

// EndpointOption configures one endpoint.
type EndpointOption func(*endpoint)

// MaxInFlight sets the endpoint's concurrent handler bound (default DefaultMaxInFlight).
func MaxInFlight(n int) EndpointOption { return func(e *endpoint) { e.maxInFlight = n } }

// Handle registers fn as the handler of ep on s. The request body is decoded strictly (unknown
// fields, missing required fields and Validate failures become validation errors naming the
// field); fn's response is encoded as JSON.
func Handle[Req, Resp any](s *Service, ep contracts.Endpoint[Req, Resp], fn func(ctx context.Context, req Req) (Resp, error), opts ...EndpointOption) error {
	h := func(ctx context.Context, m *Msg) ([]byte, error) {
		req, err := decodeRequest[Req](m.Data)
		if err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	}
	info := ep.Info()
	meta := map[string]string{
		"moa.timeout":    info.Timeout.String(),
		"moa.idempotent": strconv.FormatBool(info.Idempotent),
	}
	if info.Description != "" {
		meta["description"] = info.Description
	}
	return s.HandleRaw(ep.Name, ep.Deadline(), meta, h, opts...)
}

// HandleRaw registers an untyped handler for endpoint name (subject <prefix>.<name>).
// timeout is the handler deadline for callers that send none.
func (s *Service) HandleRaw(name string, timeout time.Duration, meta map[string]string, h Handler, opts ...EndpointOption) error {
	e := &endpoint{name: name, subject: s.spec.Prefix() + "." + name, timeout: timeout, maxInFlight: DefaultMaxInFlight}
	for _, o := range opts {
		o(e)
	}
	e.slots = make(chan struct{}, e.maxInFlight)
	e.handler = s.rt.chain(h)
	s.mu.Lock()
	if _, dup := s.endpoints[name]; dup {
		s.mu.Unlock()
		return fmt.Errorf("bus: endpoint %s registered twice", e.subject)
	}
	s.endpoints[name] = e
	s.mu.Unlock()
	return s.grp.AddEndpoint(name, micro.HandlerFunc(func(req micro.Request) { s.dispatch(e, req) }),
		micro.WithEndpointMetadata(meta))
}

// dispatch runs on the endpoint subscription's goroutine: it must not block, so it only takes
// an in-flight slot (or sheds) and hands the request to its own goroutine.
func (s *Service) dispatch(e *endpoint, req micro.Request) {
	reply := req.Reply()
	select {
	case e.slots <- struct{}{}:
	default:
		e.shed.Add(1)
		s.rt.metrics.shed.WithLabelValues(s.spec.Name, e.name).Inc()
		s.respond(reply, nil, contracts.ErrOverloaded.Msg("%s has %d requests in flight", e.subject, e.maxInFlight))
		return
	}
	msg := &Msg{Kind: KindRequest, Service: s.spec.Name, Name: e.name, Subject: req.Subject(),
		Header: nats.Header(req.Headers()), Data: req.Data()}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	e.inflight.Add(1)
	s.rt.inflight.Add(1)
	go func() {
		defer func() {
			<-e.slots
			e.inflight.Add(-1)
			s.rt.inflight.Done()
		}()
		ctx, cancel := requestContext(s.rt.ctx, msg.Header, e.timeout)
		defer cancel()
		if tok := tokenFromHeader(msg.Header); tok != "" {
			ctx = WithAuthToken(ctx, tok)
		}
		out, err := e.handler(ctx, msg)
		if err != nil {
			e.errors.Add(1)
		}
		s.respond(reply, out, err)
	}()
}

// respond publishes the reply directly rather than through micro.Request, whose bookkeeping is
// not safe to touch after the micro handler returned.
func (s *Service) respond(reply string, body []byte, err error) {
	if reply == "" {
		return
	}
	var m *nats.Msg
	if err != nil {
		m = errorReply(err)
	} else {
		if max := s.rt.nc.MaxPayload(); int64(len(body)) > max-1024 {
			m = errorReply(contracts.ErrPayloadTooBig.Msg("the reply is %d bytes; the server accepts %d", len(body), max))
		} else {
			m = &nats.Msg{Data: body}
		}
	}
	m.Subject = reply
	if perr := s.rt.nc.PublishMsg(m); perr != nil {
		s.rt.log.Warn("reply failed", "service", s.spec.Name, "error", perr)
	}
}

// stop drains the service's subscriptions (micro's Stop) so no new request is taken.
func (s *Service) stop() error { return s.svc.Stop() }
