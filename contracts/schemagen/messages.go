package schemagen

import (
	"fmt"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/moa-run/moa/contracts"
)

// endpointDoc is one endpoint file. Its root validates nothing by itself: callers use
// #/$defs/request and #/$defs/response.
type endpointDoc struct {
	Schema      string                        `json:"$schema"`
	ID          string                        `json:"$id"`
	Comment     string                        `json:"$comment"`
	Title       string                        `json:"title"`
	Description string                        `json:"description,omitempty"`
	Moa         endpointMeta                  `json:"x-moa"`
	Defs        map[string]*jsonschema.Schema `json:"$defs"`
}

type endpointMeta struct {
	Kind           string `json:"kind"`
	Service        string `json:"service"`
	ServiceVersion string `json:"service_version"`
	Subject        string `json:"subject"`
	// TimeoutMS is the endpoint's default deadline; callers send their own remaining time in
	// the Moa-Timeout-Ms header and the smaller one applies.
	TimeoutMS  int64 `json:"timeout_ms"`
	Idempotent bool  `json:"idempotent"`
	// Access lists who may call: anonymous, consumer, seller, operator, internal (services on
	// the bus without a user token). Services check it before the handler runs.
	Access []string `json:"access"`
	// OwnerChecked says that the service also checks that the caller owns the resource named.
	OwnerChecked bool   `json:"owner_checked"`
	Request      string `json:"request"`
	Response     string `json:"response"`
	Errors       string `json:"errors"`
}

func (g *reflector) endpoint(ep contracts.EndpointInfo) (*endpointDoc, error) {
	id := BaseID + EndpointFile(ep)
	req, err := g.message(ep.Request, BaseID+ep.Subject+".request.json", true)
	if err != nil {
		return nil, fmt.Errorf("%s request: %w", ep.Subject, err)
	}
	req.Description = "The request body. Unknown fields are rejected (unknown_field); fields that are required here and missing are rejected (validation_failed)."
	resp, err := g.message(ep.Response, BaseID+ep.Subject+".response.json", false)
	if err != nil {
		return nil, fmt.Errorf("%s response: %w", ep.Subject, err)
	}
	resp.Description = "The body of a successful reply. An error reply has the Nats-Service-Error-Code header and a body described by errors.json."
	return &endpointDoc{
		Schema: jsonschema.Version, ID: id, Comment: generatedNote, Title: ep.Subject, Description: ep.Description,
		Moa: endpointMeta{
			Kind: "endpoint", Service: ep.Service.Name, ServiceVersion: ep.Service.Version, Subject: ep.Subject,
			TimeoutMS: ep.Timeout.Milliseconds(), Idempotent: ep.Idempotent,
			Access: ep.Access.Names(), OwnerChecked: ep.Owner,
			Request: "#/$defs/request", Response: "#/$defs/response", Errors: "errors.json",
		},
		Defs: map[string]*jsonschema.Schema{"request": req, "response": resp},
	}, nil
}

// eventMeta is the x-moa keyword of an event file.
type eventMeta struct {
	Kind          string            `json:"kind"`
	Type          string            `json:"type"`
	Stream        string            `json:"stream"`
	Subject       string            `json:"subject"`
	Filter        string            `json:"filter"`
	SchemaVersion int               `json:"schema_version"`
	Headers       map[string]string `json:"headers"`
}

// keyPattern mirrors contracts.Token: no '.', '*', '>', whitespace or control characters.
// (Token also bounds the length in bytes, which JSON Schema cannot express.)
const keyPattern = `^[^.*>\s\x00-\x1f\x7f-\x9f]+$`

// event describes one event type as its full envelope, so that a producer in another language
// can validate what it publishes and a consumer what it receives.
func (g *reflector) event(ev contracts.EventInfo) (*jsonschema.Schema, error) {
	base := eventSubjectBase(ev)
	data, err := g.message(ev.Data, BaseID+base+".data.json", false)
	if err != nil {
		return nil, fmt.Errorf("%s data: %w", ev.Type, err)
	}
	env, err := g.envelope()
	if err != nil {
		return nil, err
	}
	env.Version = jsonschema.Version
	env.ID = jsonschema.ID(BaseID + EventFile(ev))
	env.Comments = generatedNote
	env.Title = ev.Type
	env.Description = fmt.Sprintf("The envelope of a %s event, published on %s.<key> to stream %s.", ev.Type, base, ev.Stream)
	prop := func(name string) *jsonschema.Schema {
		p, ok := env.Properties.Get(name)
		if !ok {
			panic("schemagen: contracts.Envelope has no field " + name)
		}
		return p
	}
	prop("type").Const = ev.Type
	prop("schema_version").Const = ev.Version
	key := prop("key")
	key.Pattern = keyPattern
	d := prop("data")
	*d = jsonschema.Schema{Ref: "#/$defs/data", Description: d.Description}
	if env.Definitions == nil {
		env.Definitions = jsonschema.Definitions{}
	}
	env.Definitions["data"] = data
	env.Extras = map[string]any{"x-moa": eventMeta{
		Kind: "event", Type: ev.Type, Stream: ev.Stream, Subject: base + ".{key}", Filter: ev.Subject,
		SchemaVersion: ev.Version,
		Headers: map[string]string{
			HeaderMsgID:     "the envelope id; the stream drops a re-published id within its duplicate window",
			HeaderEventType: "the envelope type",
			"traceparent":   "W3C trace context, when the event was emitted inside a trace",
		},
	}}
	return env, nil
}

// envelope reflects contracts.Envelope with its properties at the root. It is open: consumers
// decode envelopes leniently, so fields may be added to it.
func (g *reflector) envelope() (*jsonschema.Schema, error) {
	r := &jsonschema.Reflector{
		Anonymous: true, ExpandedStruct: true, AllowAdditionalProperties: true,
		Mapper: openMapType, CommentMap: g.comments,
	}
	return reflectSafely(r, typeOf[contracts.Envelope]())
}

// notification describes a stored notification of one kind (contracts.Notification, as
// notify.v1.since and .list return it and the notification push carries it) with its kind
// fixed and its data typed. It is open, like every reply.
func (g *reflector) notification(nk contracts.NotificationKindInfo) (*jsonschema.Schema, error) {
	base := BaseID + NotificationFile(nk)
	s, err := g.message(contracts.Notification{}, base, false)
	if err != nil {
		return nil, fmt.Errorf("notification %s: %w", nk.Kind, err)
	}
	data, err := g.message(nk.Data, strings.TrimSuffix(base, ".json")+".data.json", false)
	if err != nil {
		return nil, fmt.Errorf("notification %s data: %w", nk.Kind, err)
	}
	def := s.Definitions["Notification"]
	if def == nil {
		return nil, fmt.Errorf("schemagen: contracts.Notification reflected without its definition")
	}
	kind, ok := def.Properties.Get("kind")
	if !ok {
		return nil, fmt.Errorf("schemagen: contracts.Notification has no kind field")
	}
	kind.Const = nk.Kind
	d, ok := def.Properties.Get("data")
	if !ok {
		return nil, fmt.Errorf("schemagen: contracts.Notification has no data field")
	}
	*d = jsonschema.Schema{Ref: "#/$defs/data", Description: d.Description}
	// The notify service always sets data for its own kinds.
	if !slices.Contains(def.Required, "data") {
		def.Required = append(def.Required, "data")
	}
	s.Definitions["data"] = data
	s.Version = jsonschema.Version
	s.Comments = generatedNote
	s.Title = "notification " + nk.Kind
	s.Description = "A stored notification of kind " + nk.Kind + ": " + nk.Description + "."
	s.Extras = map[string]any{"x-moa": map[string]string{"kind": "notification", "notification_kind": nk.Kind}}
	return s, nil
}
