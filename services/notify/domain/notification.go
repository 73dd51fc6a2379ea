// Package domain holds the notify service's types and rules: what a notification and a mail
// are, the words they say for each event, and when a client that was away can still catch up.
// It does no I/O.
package domain

import (
	"encoding/json"
	"time"
)

// Draft is a notification before it is stored: the store gives it the user's next sequence.
// DedupKey names what the notification is about (the event and the user's part in it), so a
// notification for one thing is stored once per user even if its event comes twice with two ids.
type Draft struct {
	UserID   string
	Kind     string
	Title    string
	Body     string
	Data     json.RawMessage
	DedupKey string
}

// Notification is a stored notification.
type Notification struct {
	UserID    string
	Seq       uint64
	Kind      string
	Title     string
	Body      string
	Data      json.RawMessage
	CreatedAt time.Time
	Read      bool
}

// Mail is a mail waiting to be sent to a user. The address is not part of it: it is looked up
// in the directory when the mail is sent, because the account's signup event may arrive after
// the event that causes the mail (they travel on different streams).
type Mail struct {
	UserID   string
	DedupKey string // with UserID, unique: one mail per (event, recipient)
	Subject  string
	Body     string
}

// Terminal is how a subscription saga ended (subscription.activated or .cancelled), as far
// as the notifications say it.
type Terminal struct {
	SubscriptionID string
	ProductID      string
	ConsumerID     string
	SellerID       string
	AmountMinor    int64 // charged (activated) or refunded (cancelled)
	Currency       string
	Reason         string // why it was cancelled
	WasActive      bool   // cancelled after having been active
}

// Terms are a product's new terms (catalog.product_terms_changed).
type Terms struct {
	ProductID    string
	TermsVersion int
	Terms        string
}

// Product is what notify knows of a product, from the catalog's events, to name it in words.
type Product struct {
	ID       string
	SellerID string
	Title    string
	Version  int64
}

// User is a directory entry, from auth's signup events.
type User struct {
	ID          string
	Email       string
	DisplayName string
	Role        string
}

// Recoverable says whether a client that has seen every notification up to since can be given
// all the ones after it: last is the user's latest sequence, first the lowest sequence above
// since that is still stored (0 when none is), max the most one answer may hold.
//
// A client ahead of the service (since > last) is not recoverable either: the service lost
// what it told the client, and only a reload makes the two agree again.
func Recoverable(since, last, first uint64, max int) bool {
	switch {
	case since == last:
		return true
	case since > last:
		return false
	case last-since > uint64(max):
		return false
	default:
		return first == since+1
	}
}

// Comment is a new comment on a blog post (the post service's post.commented), as far as the
// alerts say it. ParentID and ParentAuthorID are empty for a top-level comment.
type Comment struct {
	PostID         string
	PostSlug       string
	PostTitle      string
	PostAuthorID   string
	CommentID      string
	AuthorID       string
	AuthorName     string
	ParentID       string
	ParentAuthorID string
	Excerpt        string
}
