// Package protocol defines the WebSocket frames between app clients and the Moa edge, version 1.
// docs/protocol.md documents every frame with an example; this package is the one decoder the
// edge uses, so every limit stated there is enforced here.
//
// Every frame is one JSON object in one WebSocket text message:
//
//	{"v":1, "type":"req", "id":"c7", "method":"catalog.get_product", "body":{...}}
//
// Client frames carry an id chosen by the client; the server's answer to a frame carries the
// same id, so a client can have many requests in flight.
package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/moa-run/moa/contracts"
)

// Version is the protocol version this package speaks.
const Version = 1

// Limits bound what a client frame may contain. The WebSocket read limit (64 KiB by default)
// bounds the whole frame before decoding.
const (
	MaxIDLen     = 64
	MaxMethodLen = 64
	MaxTokenLen  = 4096
	MaxTopicLen  = 128
)

// Client frame types.
const (
	TypeAuth        = "auth"        // {token}: authenticate (first frame, within the auth deadline)
	TypeRefresh     = "refresh"     // {token}: replace an expiring access token mid-connection
	TypeRequest     = "req"         // {method, body}: a mediated call to a service endpoint
	TypeResume      = "resume"      // {since}: replay notifications after sequence since
	TypeTyping      = "typing"      // {room}: ephemeral typing indicator, not stored
	TypePing        = "ping"        // application-level ping (WebSocket ping/pong also runs)
	TypeSubscribe   = "subscribe"   // {topic}: live updates for a topic the caller may see
	TypeUnsubscribe = "unsubscribe" // {topic}: stop the live updates of a topic
)

// Server frame types.
const (
	TypeOK           = "ok"           // {id, body}: success answer to a client frame
	TypeError        = "error"        // {id?, error}: failure answer, or a connection-level error
	TypeEvent        = "event"        // {topic, body}: live push (chat message, receipt, typing, presence)
	TypeNotification = "notification" // {seq, body}: a stored notification, in per-user sequence
	TypeResync       = "resync"       // {reason}: notifications since the client's seq are not recoverable: reload
	TypePong         = "pong"
	TypeHello        = "hello"    // {body: {auth_deadline_ms, max_frame_bytes, ...}} sent on connect
	TypeExpiring     = "expiring" // {body: {expires_at}}: the access token expires soon; send a refresh frame
	TypeBye          = "bye"      // {reason, error}: the server is about to close the connection, and why
)

// Topics a client may subscribe to. A room topic is "room:<room_id>": the room's typing
// signals and, for its consumer, the seller's presence.
const (
	TopicRoomPrefix = "room:"
)

// RoomOfTopic returns the room id of a room topic, or "" when topic is not one.
func RoomOfTopic(topic string) string {
	if len(topic) > len(TopicRoomPrefix) && topic[:len(TopicRoomPrefix)] == TopicRoomPrefix {
		return topic[len(TopicRoomPrefix):]
	}
	return ""
}

// WebSocket close codes the edge uses. 1000-1015 are the standard codes; 4000-4999 are the
// application's, modelled on HTTP statuses so they are easy to remember.
const (
	CloseNormal        = 1000 // the client asked to close
	CloseGoingAway     = 1001 // the edge is shutting down: reconnect (to another instance)
	CloseUnsupported   = 1003 // a binary message: the protocol is JSON text
	CloseTooBig        = 1009 // a frame (or its decompressed form) exceeded the frame limit
	CloseAuth          = 4401 // no auth frame in time, an invalid token, or the token expired
	CloseSlowConsumer  = 4408 // the client did not read fast enough; its queue overflowed
	CloseTooManyConns  = 4409 // the user already has the maximum number of connections
	CloseRateLimited   = 4429 // the client kept sending frames over its rate limit
	CloseInternalError = 1011 // the edge failed unexpectedly
)

// ClientFrame is a decoded client frame. Which fields are meaningful depends on Type.
type ClientFrame struct {
	V      int             `json:"v"`
	Type   string          `json:"type"`
	ID     string          `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
	Token  string          `json:"token,omitempty"`
	// Anonymous, on an auth frame instead of a token, starts an anonymous session: only public
	// calls (catalog reads, signup, login) are allowed until an auth frame with a token.
	Anonymous bool    `json:"anonymous,omitempty"`
	Since     *uint64 `json:"since,omitempty"`
	Room      string  `json:"room,omitempty"`
	Topic     string  `json:"topic,omitempty"`
}

// ServerFrame is a frame the edge sends.
type ServerFrame struct {
	V     int              `json:"v"`
	Type  string           `json:"type"`
	ID    string           `json:"id,omitempty"`
	Topic string           `json:"topic,omitempty"`
	Seq   uint64           `json:"seq,omitempty"`
	Body  any              `json:"body,omitempty"`
	Error *contracts.Error `json:"error,omitempty"`
	// Degraded marks an answer served from a fallback (e.g. a cached catalog page).
	Degraded bool   `json:"degraded,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Decode parses and checks one client frame. Every failure is a *contracts.Error with a stable
// code; the frame's id is returned when it could be read, so the error can be correlated.
func Decode(data []byte) (ClientFrame, error) {
	var f ClientFrame
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// An unknown field or a mistyped one still leaves a readable id: without it in the
		// answer the client would wait for it forever.
		return ClientFrame{ID: readID(data)}, contracts.ErrBadRequest.Msg("frame is not a valid JSON object: %v", trim(err.Error()))
	}
	if dec.More() {
		return ClientFrame{ID: f.ID}, contracts.ErrBadRequest.Msg("frame has data after the JSON object")
	}
	if len(f.ID) > MaxIDLen {
		// Echoed all the same (the frame limit bounds it): the client is waiting for it.
		return ClientFrame{ID: f.ID}, contracts.ErrValidation.OnField("id", "id is longer than %d bytes", MaxIDLen)
	}
	if f.V != Version {
		return ClientFrame{ID: f.ID}, contracts.ErrValidation.OnField("v", "protocol version %d is not supported; use %d", f.V, Version)
	}
	if err := f.check(); err != nil {
		return ClientFrame{ID: f.ID}, err
	}
	return f, nil
}

// readID returns the string id of a frame that failed the strict decode, "" when the frame
// is not a JSON object or its id is not a string.
func readID(data []byte) string {
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	// Unmarshal keeps going past unknown and mistyped fields; only a syntax error stops it.
	_ = json.Unmarshal(data, &probe)
	var id string
	if json.Unmarshal(probe.ID, &id) != nil {
		return ""
	}
	return id
}

func (f *ClientFrame) check() error {
	needID := func() error {
		if f.ID == "" {
			return contracts.ErrValidation.OnField("id", "%s frames need an id", f.Type)
		}
		return nil
	}
	switch f.Type {
	case TypeAuth, TypeRefresh:
		if f.Type == TypeAuth && f.Anonymous {
			if f.Token != "" {
				return contracts.ErrValidation.OnField("token", "an anonymous auth frame has no token")
			}
			return needID()
		}
		if f.Anonymous {
			return contracts.ErrValidation.OnField("anonymous", "only an auth frame can be anonymous")
		}
		if f.Token == "" || len(f.Token) > MaxTokenLen {
			return contracts.ErrValidation.OnField("token", "token must be 1..%d bytes", MaxTokenLen)
		}
		return needID()
	case TypeRequest:
		if f.Method == "" || len(f.Method) > MaxMethodLen || !methodChars(f.Method) {
			return contracts.ErrValidation.OnField("method", "method must be <service>.<endpoint> in [a-z0-9_]")
		}
		if len(f.Body) > 0 && f.Body[0] != '{' {
			return contracts.ErrValidation.OnField("body", "body must be a JSON object")
		}
		return needID()
	case TypeResume:
		if f.Since == nil {
			return contracts.ErrValidation.OnField("since", "resume needs since (0 for everything)")
		}
		return needID()
	case TypeTyping:
		if _, err := contracts.Token("room", f.Room); err != nil {
			return err
		}
		return nil
	case TypeSubscribe, TypeUnsubscribe:
		if f.Topic == "" || len(f.Topic) > MaxTopicLen {
			return contracts.ErrValidation.OnField("topic", "topic must be 1..%d bytes", MaxTopicLen)
		}
		room := RoomOfTopic(f.Topic)
		if room == "" {
			return contracts.ErrValidation.OnField("topic", "unknown topic; topics are room:<room_id>")
		}
		if _, err := contracts.Token("topic", room); err != nil {
			return err
		}
		return needID()
	case TypePing:
		return nil
	case "":
		return contracts.ErrValidation.OnField("type", "type is required")
	default:
		return contracts.ErrValidation.OnField("type", "unknown frame type %q", trim(f.Type))
	}
}

// methodChars accepts "<service>.<endpoint>" with lower-case letters, digits and underscores.
func methodChars(m string) bool {
	dots := 0
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		case c == '.':
			dots++
			if i == 0 || i == len(m)-1 || m[i-1] == '.' {
				return false
			}
		default:
			return false
		}
	}
	return dots == 1
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Encode marshals a server frame, filling in the version.
func Encode(f ServerFrame) ([]byte, error) {
	f.V = Version
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode %s: %w", f.Type, err)
	}
	return b, nil
}

// ErrorFrame is the answer to a failed client frame.
func ErrorFrame(id string, err error) ServerFrame {
	ce := contracts.AsError(err)
	// Internal causes never leave the server.
	return ServerFrame{Type: TypeError, ID: id, Error: &contracts.Error{Code: ce.Code, Kind: ce.Kind, Message: ce.Message, Field: ce.Field}}
}
