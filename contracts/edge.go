package contracts

import "time"

// The edge (package edge) is the WebSocket front door. Besides forwarding the pushes services
// publish, edge instances signal each other on two push subjects, so that several instances
// behind a load balancer act as one:
//
//	push.room.<room_id>      a member is typing (Topic PushTopicTyping, Body ChatTyping)
//	push.presence.<user_id>  a seller came online or went offline (Topic PushTopicPresence, Body Presence)
//
// Neither is stored: typing is ephemeral, and the current presence of a user is kept in the
// edges' key-value bucket PresenceBucket, which any instance reads when a client starts
// watching.
const (
	PushTopicTyping   = "chat.typing"
	PushTopicPresence = "presence"
)

// PresenceBucket is the JetStream key-value bucket in which edge instances record which users
// are online (sellers only: their state is what consumers of their rooms see). One key per user;
// its value is a PresenceRecord.
const PresenceBucket = "EDGE_PRESENCE"

// ChatTyping says a room member is typing. It is never stored.
type ChatTyping struct {
	RoomID string    `json:"room_id"`
	UserID string    `json:"user_id"`
	At     time.Time `json:"at"`
}

// Presence is a user's online state as clients see it. At is when it last changed.
type Presence struct {
	UserID string    `json:"user_id"`
	Online bool      `json:"online"`
	At     time.Time `json:"at"`
}

// PresenceRecord is the value of a user's key in PresenceBucket: the edge instances holding a
// connection of the user, each with the time until which its claim holds. An instance renews
// its claims well before they lapse; a claim past its time (the instance died) is ignored by
// readers, so a crashed instance cannot leave a user online forever.
type PresenceRecord struct {
	Edges map[string]time.Time `json:"edges"`
	Since time.Time            `json:"since"` // when the user came online
}
