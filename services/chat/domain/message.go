package domain

import (
	"fmt"
	"strings"
	"time"

	"github.com/moa-run/moa/contracts"
)

// Pos is a position in the order of a room's messages: the message's server time in
// nanoseconds, zero-padded to a fixed width, then its id. Comparing positions as strings
// compares (time, id), so the store can order, page and compare with one indexed field and
// MongoDB's $max, and two messages stored in the same nanosecond still have a definite order.
// The zero Pos is before every message.
type Pos string

// PosOf is the position of the item id stored at t.
func PosOf(t time.Time, id string) Pos { return Pos(fmt.Sprintf("%019d:%s", t.UnixNano(), id)) }

// ID is the id of the item at p.
func (p Pos) ID() string {
	_, id, _ := strings.Cut(string(p), ":")
	return id
}

// After reports whether p comes after q.
func (p Pos) After(q Pos) bool { return p > q }

// Message is one stored message.
type Message struct {
	ID          string
	RoomID      string
	SenderID    string
	Text        string // normalised
	ClientMsgID string
	SentAt      time.Time
}

// Pos is the message's position in its room.
func (m Message) Pos() Pos { return PosOf(m.SentAt, m.ID) }

// NewMessage checks a message senderID wants to send to room. id is the new message's id; now
// becomes its time. The caller must have checked that senderID is a member.
func NewMessage(id string, room Room, senderID, text, clientMsgID string, now time.Time) (Message, error) {
	if !room.IsMember(senderID) {
		return Message{}, NoSuchRoom(room.ID)
	}
	t, err := contracts.NormalizeChatText("text", text)
	if err != nil {
		return Message{}, err
	}
	if err := contracts.ValidateClientMsgID("client_msg_id", clientMsgID); err != nil {
		return Message{}, err
	}
	return Message{ID: id, RoomID: room.ID, SenderID: senderID, Text: t, ClientMsgID: clientMsgID, SentAt: now.UTC()}, nil
}

// SameAs reports whether a message stored earlier under the same client message id is the one
// m would be: a retry. Anything else reuses the id for a different message, which is a client
// bug the sender must hear about rather than a message silently dropped.
func (m Message) SameAs(stored Message) error {
	if m.Text != stored.Text {
		return contracts.ErrConflict.OnField("client_msg_id",
			"client_msg_id %s was already used for a different message in this room", m.ClientMsgID)
	}
	return nil
}
