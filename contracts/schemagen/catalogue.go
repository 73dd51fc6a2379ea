package schemagen

import (
	"reflect"
	"sort"

	"github.com/invopop/jsonschema"

	"github.com/moa-run/moa/contracts"
)

// Wire header names, as the bus runtime writes them. They are spelled out here rather than
// imported so that generating contracts never depends on the runtime compiling; a test in this
// package checks them against the bus constants.
const (
	HeaderTimeout       = "Moa-Timeout-Ms"
	HeaderAuthorization = "Authorization"
	HeaderErrorCode     = "Nats-Service-Error-Code"
	HeaderError         = "Nats-Service-Error"
	HeaderDegraded      = "Moa-Degraded"
	HeaderMsgID         = "Nats-Msg-Id"
	HeaderEventType     = "Moa-Event-Type"
)

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// errorEntry is one catalogue entry as listed in errors.json.
type errorEntry struct {
	Code      string         `json:"code"`
	Kind      contracts.Kind `json:"kind"`
	Message   string         `json:"message"`
	Retryable bool           `json:"retryable"`
}

// knownKinds lists every kind, including ones no code uses yet, in the order errors.go declares
// them.
var knownKinds = []contracts.Kind{
	contracts.KindInvalid, contracts.KindUnauthenticated, contracts.KindForbidden, contracts.KindNotFound,
	contracts.KindConflict, contracts.KindUnavailable, contracts.KindTimeout, contracts.KindInternal,
}

// errors describes the body of an error reply and lists the catalogue. The code is not an enum:
// a newer service may send a code this file does not list yet, and clients must keep it.
func (g *reflector) errors(errs []*contracts.Error) (*jsonschema.Schema, error) {
	r := &jsonschema.Reflector{
		Anonymous: true, ExpandedStruct: true, AllowAdditionalProperties: true,
		Mapper: openMapType, CommentMap: g.comments,
	}
	s, err := reflectSafely(r, typeOf[contracts.Error]())
	if err != nil {
		return nil, err
	}
	s.Version = jsonschema.Version
	s.ID = BaseID + "errors.json"
	s.Comments = generatedNote
	s.Title = "Moa error reply"
	s.Description = "The body of an error reply. The reply also carries the code in the Nats-Service-Error-Code header and the message in Nats-Service-Error. Programs compare codes (listed in x-moa-errors); kinds group codes by what a caller should do."
	kinds := append([]contracts.Kind(nil), knownKinds...)
	seen := map[contracts.Kind]bool{}
	for _, k := range kinds {
		seen[k] = true
	}
	entries := make([]errorEntry, 0, len(errs))
	for _, e := range sortedErrors(errs) {
		entries = append(entries, errorEntry{Code: e.Code, Kind: e.Kind, Message: e.Message, Retryable: e.Retryable()})
		if !seen[e.Kind] {
			seen[e.Kind] = true
			kinds = append(kinds, e.Kind)
		}
	}
	enum := make([]any, len(kinds))
	for i, k := range kinds {
		enum[i] = string(k)
	}
	if kind, ok := s.Properties.Get("kind"); ok {
		kind.Enum = enum
	}
	s.Extras = map[string]any{"x-moa-errors": entries}
	return s, nil
}

// streamEntry is one stream declaration in streams.json. Durations are whole seconds so that
// every language reads them the same way.
type streamEntry struct {
	Name                   string   `json:"name"`
	Description            string   `json:"description"`
	Subjects               []string `json:"subjects"`
	Storage                string   `json:"storage"`
	Replicas               int      `json:"replicas"`
	Retention              string   `json:"retention"`
	MaxAgeSeconds          int64    `json:"max_age_seconds"`
	DuplicateWindowSeconds int64    `json:"duplicate_window_seconds"`
	Critical               bool     `json:"critical"`
}

type streamsFile struct {
	Comment string        `json:"$comment"`
	Streams []streamEntry `json:"streams"`
}

func streamsDoc(specs []contracts.StreamSpec) streamsFile {
	out := streamsFile{Comment: generatedNote, Streams: []streamEntry{}}
	for _, s := range specs {
		out.Streams = append(out.Streams, streamEntry{
			Name: s.Name, Description: s.Description, Subjects: s.Subjects, Storage: string(s.Storage),
			Replicas: s.Replicas, Retention: string(s.Retention),
			MaxAgeSeconds: int64(s.MaxAge.Seconds()), DuplicateWindowSeconds: int64(s.Duplicates.Seconds()),
			Critical: s.Critical,
		})
	}
	sort.Slice(out.Streams, func(i, j int) bool { return out.Streams[i].Name < out.Streams[j].Name })
	return out
}

// indexFile is index.json: the entry point for a non-Go implementer.
type indexFile struct {
	Comment   string            `json:"$comment"`
	Subjects  map[string]string `json:"subjects"`
	Headers   map[string]string `json:"headers"`
	Services  []indexService    `json:"services"`
	Endpoints []indexEndpoint   `json:"endpoints"`
	Events    []indexEvent      `json:"events"`
	// Notifications are the kinds of stored notification, each with its data's shape.
	Notifications []indexNotification `json:"notifications"`
	Errors        string              `json:"errors"`
	Streams       string              `json:"streams"`
}

type indexNotification struct {
	Kind string `json:"kind"`
	File string `json:"file"`
}

type indexService struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Prefix      string `json:"prefix"`
	Description string `json:"description"`
}

type indexEndpoint struct {
	Subject string `json:"subject"`
	File    string `json:"file"`
}

type indexEvent struct {
	Type    string `json:"type"`
	Stream  string `json:"stream"`
	Subject string `json:"subject"`
	File    string `json:"file"`
}

func indexDoc(in Input) indexFile {
	idx := indexFile{
		Comment: generatedNote,
		Subjects: map[string]string{
			"request":     "<service>.v<major>.<endpoint>, served as a NATS micro service named <service> (answers $SRV.PING, $SRV.INFO, $SRV.STATS)",
			"event":       "evt.<domain>.<event_type>.<key>; the key is the aggregate id and the per-key ordering unit",
			"dead_letter": "dlq.<stream>.<consumer>",
			"token":       "a value placed in a subject is non-empty, at most 128 bytes of UTF-8, without '.', '*', '>', whitespace or control characters",
		},
		Headers: map[string]string{
			HeaderTimeout:       "request: the caller's remaining time in milliseconds; the handler's deadline",
			HeaderAuthorization: "request: 'Bearer <access token>' of the end user, verified by each service with the auth service's keys",
			"traceparent":       "request and event: W3C trace context (tracestate and baggage may follow)",
			HeaderErrorCode:     "error reply: the stable error code (errors.json)",
			HeaderError:         "error reply: the human-readable message",
			HeaderDegraded:      "reply: 'true' when a fallback, not the service, produced it",
			HeaderMsgID:         "event: the envelope id (JetStream de-duplication)",
			HeaderEventType:     "event: the envelope type",
		},
		Services: []indexService{}, Endpoints: []indexEndpoint{}, Events: []indexEvent{}, Notifications: []indexNotification{},
		Errors: "errors.json", Streams: "streams.json",
	}
	services := map[string]bool{}
	for _, ep := range in.Endpoints {
		if p := ep.Service.Prefix(); !services[p] {
			services[p] = true
			idx.Services = append(idx.Services, indexService{Name: ep.Service.Name, Version: ep.Service.Version, Prefix: p, Description: ep.Service.Description})
		}
		idx.Endpoints = append(idx.Endpoints, indexEndpoint{Subject: ep.Subject, File: EndpointFile(ep)})
	}
	for _, nk := range in.Notifications {
		idx.Notifications = append(idx.Notifications, indexNotification{Kind: nk.Kind, File: NotificationFile(nk)})
	}
	for _, ev := range in.Events {
		idx.Events = append(idx.Events, indexEvent{Type: ev.Type, Stream: ev.Stream, Subject: eventSubjectBase(ev) + ".{key}", File: EventFile(ev)})
	}
	sort.Slice(idx.Services, func(i, j int) bool { return idx.Services[i].Prefix < idx.Services[j].Prefix })
	sort.Slice(idx.Endpoints, func(i, j int) bool { return idx.Endpoints[i].Subject < idx.Endpoints[j].Subject })
	sort.Slice(idx.Events, func(i, j int) bool { return idx.Events[i].Type < idx.Events[j].Type })
	return idx
}
