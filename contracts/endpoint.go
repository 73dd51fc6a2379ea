package contracts

import (
	"strconv"
	"time"
)

// DefaultTimeout is the deadline a call gets when neither the caller's context nor the endpoint
// declares one.
const DefaultTimeout = 5 * time.Second

// Service describes a Moa service as it registers with the micro package.
type Service struct {
	Name        string // micro service name and first subject token: [a-z0-9_-]+
	Version     string // semver, shown by `nats micro info`
	Major       int    // the v<major> subject token
	Description string
}

// Prefix is the subject prefix of the service's endpoints, e.g. "catalog.v1".
func (s Service) Prefix() string { return s.Name + ".v" + strconv.Itoa(s.Major) }

// Endpoint is a typed request-reply endpoint: the subject, the request and response types,
// and the call policy every client applies by default. Declaring it once here gives both the
// service (bus.Handle) and every caller (bus.Call) the same types and subject.
type Endpoint[Req, Resp any] struct {
	Service Service
	Name    string // endpoint token: [a-z0-9_]+
	// Timeout is the default deadline for a call when the caller's context has none, or has a
	// longer one. Zero means DefaultTimeout.
	Timeout time.Duration
	// Idempotent endpoints may be retried by the client on transient failures. Only declare it
	// when repeating the call cannot repeat an effect.
	Idempotent bool
	// Access is who may call the endpoint (see Access); the bus enforces it before the handler
	// runs. Every endpoint in this package declares it.
	Access Access
	// Owner says that the handler also checks that the caller owns the resource the request
	// names (a room's member, a product's seller, a subscription's consumer). The bus cannot
	// know owners; the flag documents the check and keeps it in the generated policy table.
	Owner       bool
	Description string
}

// Subject is the endpoint's request subject.
func (e Endpoint[Req, Resp]) Subject() string { return e.Service.Prefix() + "." + e.Name }

// Deadline is the endpoint's default timeout.
func (e Endpoint[Req, Resp]) Deadline() time.Duration {
	if e.Timeout <= 0 {
		return DefaultTimeout
	}
	return e.Timeout
}

// EndpointInfo is the untyped view of an endpoint, for registries, docs and schema generation.
type EndpointInfo struct {
	Service     Service
	Name        string
	Subject     string
	Timeout     time.Duration
	Idempotent  bool
	Access      Access
	Owner       bool
	Description string
	Request     any // a zero value of the request type
	Response    any // a zero value of the response type
}

// Info returns the untyped description of e.
func (e Endpoint[Req, Resp]) Info() EndpointInfo {
	var req Req
	var resp Resp
	return EndpointInfo{
		Service: e.Service, Name: e.Name, Subject: e.Subject(), Timeout: e.Deadline(),
		Idempotent: e.Idempotent, Access: e.Access, Owner: e.Owner, Description: e.Description,
		Request: req, Response: resp,
	}
}

// Describer is implemented by every Endpoint; registries hold endpoints through it.
type Describer interface{ Info() EndpointInfo }

// Empty is the request or response of endpoints that take or return nothing.
type Empty struct{}
