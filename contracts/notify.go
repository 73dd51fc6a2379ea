package contracts

import (
	"encoding/json"
	"time"
)

// NotifyService stores each user's notifications durably, numbered by a per-user sequence
// (1, 2, 3, … with no gaps), and pushes each new one live on the user's push subject with
// Topic PushTopicNotification and Seq set. Clients that were away ask for what they missed
// with NotifySince; when the service no longer holds everything after the client's sequence it
// says so (Recoverable false) instead of returning a silent gap.
var NotifyService = Service{Name: "notify", Version: "1.0.0", Major: 1,
	Description: "per-user notifications with a gapless sequence, pushed live and replayable"}

// PushTopicNotification is the push topic of a stored notification; contracts.Push.Seq is its
// sequence and Body a Notification.
const PushTopicNotification = "notification"

// NotifySinceMax bounds one NotifySince answer. A client further behind than this gets
// Recoverable false and reloads.
const NotifySinceMax = 500

// Notification endpoints. The user is the one of the caller's access token.
var (
	NotifySince = Endpoint[NotifySinceReq, NotifySinceResp]{Service: NotifyService, Name: "since", Access: AccessSignedIn, Idempotent: true,
		Description: "the caller's notifications after a sequence, oldest first, or not recoverable"}
)

func init() { register(NotifySince) }

// Notification is one stored notification of a user. Seq is the user's sequence number: the
// first notification of a user has Seq 1 and each next one the previous plus one.
type Notification struct {
	Seq       uint64          `json:"seq"`
	Kind      string          `json:"kind"` // one of NotificationKinds, e.g. "subscription.activated"
	Title     string          `json:"title"`
	Body      string          `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data,omitempty"` // kind-specific details (ids to link to); each kind's shape is in NotificationKinds
}

// NotifySinceReq asks for the caller's notifications with a sequence greater than Since
// (0: from the first).
type NotifySinceReq struct {
	Since uint64 `json:"since"`
}

// NotifySinceResp holds the notifications after Since in sequence order, with no gap. When
// Recoverable is false the service cannot return every one of them (they were pruned, or there
// are more than NotifySinceMax): Items is then empty and the client must reload its view and
// continue from LastSeq. LastSeq is the user's latest sequence (0 for none yet).
type NotifySinceResp struct {
	Items       []Notification `json:"items"`
	Recoverable bool           `json:"recoverable"`
	LastSeq     uint64         `json:"last_seq"`
}
