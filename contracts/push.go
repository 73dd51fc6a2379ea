package contracts

import "encoding/json"

// Live pushes to app clients. A service that has something for a user to see right now (a chat
// message, a read receipt, a notification) publishes a Push on the user's push subject with
// core NATS, after its own state change committed. Every edge instance subscribes to the push
// subjects of the users connected to it, so a user's connections on any edge receive it.
//
// Pushes are best effort by design: what must not be missed is stored by the owning service
// (chat history, notifications with a per-user sequence) and fetched again on reconnect or when
// the client sees a gap in the sequence.
//
//	push.user.<user_id>    for one user
//	push.room.<room_id>    ephemeral room signals (typing), for the room's members' edges
//	push.presence.<user_id> online/offline changes of one user
const (
	PushUserPrefix     = "push.user"
	PushRoomPrefix     = "push.room"
	PushPresencePrefix = "push.presence"
)

// PushUserSubject is the push subject of a user; userID must be a safe token.
func PushUserSubject(userID string) (string, error) {
	if _, err := Token("user_id", userID); err != nil {
		return "", err
	}
	return Join(PushUserPrefix, userID), nil
}

// PushRoomSubject is the ephemeral signal subject of a chat room.
func PushRoomSubject(roomID string) (string, error) {
	if _, err := Token("room_id", roomID); err != nil {
		return "", err
	}
	return Join(PushRoomPrefix, roomID), nil
}

// PushPresenceSubject carries presence changes of a user.
func PushPresenceSubject(userID string) (string, error) {
	if _, err := Token("user_id", userID); err != nil {
		return "", err
	}
	return Join(PushPresencePrefix, userID), nil
}

// Push is the body of a push message. Topic names what it is ("chat.message",
// "chat.read", "chat.typing", "notification", "presence"); Seq is set for notifications (the
// user's notification sequence) so the client can detect gaps.
type Push struct {
	Topic string          `json:"topic"`
	Seq   uint64          `json:"seq,omitempty"`
	Body  json.RawMessage `json:"body"`
}
