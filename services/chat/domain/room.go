// Package domain holds the chat's rules: what a room is and who may use it, how messages are
// ordered, how text is normalised and what read positions mean. It does no I/O.
package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
)

// roomNamespace makes room ids name-based UUIDs (version 5) of (product, consumer), so that the
// same consumer opening a room about the same product always lands in the same room, whichever
// instance serves the call and without a lookup first.
var roomNamespace = uuid.MustParse("4f0c1b8e-7a53-4d0e-9a64-3c1f2b6d9e21")

// RoomID is the id of the room of consumerID about productID. Product ids are UUIDs whose hex
// digits may come in either case; they are folded so that both spellings name one room.
func RoomID(productID, consumerID string) string {
	return uuid.NewSHA1(roomNamespace, []byte(strings.ToLower(productID)+"\x00"+consumerID)).String()
}

// Side is which member of a room a user is.
type Side string

// The two sides of a room.
const (
	SideConsumer Side = "consumer"
	SideSeller   Side = "seller"
)

// Room is a 1:1 room between a consumer and the seller of a product. Its members never change;
// what changes is its last message, its activity and the members' read positions.
type Room struct {
	ID           string
	ProductID    string
	ProductTitle string
	ConsumerID   string
	SellerID     string
	CreatedAt    time.Time
	// Activity orders a user's rooms: the position of the last message, or of the room's
	// creation while it has none.
	Activity     Pos
	ConsumerRead Pos
	SellerRead   Pos
	Last         *Message // nil while the room has no message
}

// Product is what a room needs to know about the product it is about.
type Product struct {
	ID       string
	SellerID string
	Title    string
}

// NewRoom opens the room of consumerID about p. Both member ids end up in push subjects, so
// they must be safe subject tokens.
func NewRoom(p Product, consumerID string, now time.Time) (Room, error) {
	if _, err := contracts.Token("consumer_id", consumerID); err != nil {
		return Room{}, err
	}
	if _, err := contracts.Token("seller_id", p.SellerID); err != nil {
		return Room{}, err
	}
	if consumerID == p.SellerID {
		return Room{}, contracts.ErrForbidden.Msg("a seller cannot open a chat about their own product")
	}
	id := RoomID(p.ID, consumerID)
	now = now.UTC()
	return Room{
		ID: id, ProductID: strings.ToLower(p.ID), ProductTitle: p.Title,
		ConsumerID: consumerID, SellerID: p.SellerID, CreatedAt: now, Activity: PosOf(now, id),
	}, nil
}

// IsMember reports whether userID is one of the room's two members.
func (r Room) IsMember(userID string) bool {
	return userID != "" && (userID == r.ConsumerID || userID == r.SellerID)
}

// SideOf returns the side userID is on; userID must be a member.
func (r Room) SideOf(userID string) Side {
	if userID == r.SellerID {
		return SideSeller
	}
	return SideConsumer
}

// Other returns the member who is not userID.
func (r Room) Other(userID string) string {
	if userID == r.SellerID {
		return r.ConsumerID
	}
	return r.SellerID
}

// Members returns both member ids.
func (r Room) Members() []string { return []string{r.ConsumerID, r.SellerID} }

// ReadPos is userID's read position: every message at or before it counts as read by them.
func (r Room) ReadPos(userID string) Pos {
	if r.SideOf(userID) == SideSeller {
		return r.SellerRead
	}
	return r.ConsumerRead
}

// MayHaveUnread reports whether userID may have unread messages in the room: its last message
// is someone else's, after userID's read position. A user who sends a message has read the room
// up to it, so a room whose last message is the user's own has nothing unread for them.
func (r Room) MayHaveUnread(userID string) bool {
	return r.Last != nil && r.Last.SenderID != userID && r.Last.Pos().After(r.ReadPos(userID))
}

// Visible returns the room if userID may see it. To anyone else it answers not_found, the same
// as for a room that does not exist: room ids are derived from product and consumer ids, and a
// different answer would tell a stranger who talks to whom.
func (r Room) Visible(userID string) error {
	if !r.IsMember(userID) {
		return NoSuchRoom(r.ID)
	}
	return nil
}

// NoSuchRoom is the error for a room that does not exist or that the caller is not a member of.
func NoSuchRoom(id string) error {
	return contracts.ErrNotFound.OnField("room_id", "no chat room %s", id)
}
