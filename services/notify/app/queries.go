package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/domain"
)

// Since is the answer to a client catching up: the user's notifications after a sequence, or
// Recoverable false (and no items) when that cannot be every one of them.
type Since struct {
	Items       []domain.Notification // in sequence order, with no gap
	Recoverable bool
	LastSeq     uint64 // the user's latest sequence
}

// Since answers contracts.NotifySince for userID: every notification after since, or
// Recoverable false when that cannot be every one.
func (a *App) Since(ctx context.Context, userID string, since uint64) (Since, error) {
	last, items, err := a.reads.Since(ctx, userID, since, contracts.NotifySinceMax)
	if err != nil {
		return Since{}, err
	}
	var first uint64
	if len(items) > 0 {
		first = items[0].Seq
	}
	resp := Since{LastSeq: last}
	if !domain.Recoverable(since, last, first, contracts.NotifySinceMax) {
		return resp, nil
	}
	// The snapshot holds a contiguous run; checking it costs nothing and keeps "never a
	// silent gap" true even if that ever stopped being so.
	for i, n := range items {
		if n.Seq != since+uint64(i)+1 {
			return resp, nil
		}
	}
	if since < last && uint64(len(items)) != last-since {
		return resp, nil
	}
	resp.Recoverable = true
	resp.Items = items
	return resp, nil
}

// Page is a page of a user's notifications, newest first, with their read state.
type Page struct {
	Items      []domain.Notification
	LastSeq    uint64 // the user's latest sequence
	NextBefore uint64 // where the next page starts; 0 when this is the last one
}

// List answers contracts.NotifyList for userID: up to limit notifications (0:
// contracts.NotifyListDefault) older than before (0: the newest), only the unread ones when
// unreadOnly is set.
func (a *App) List(ctx context.Context, userID string, before uint64, limit int, unreadOnly bool) (Page, error) {
	if limit == 0 {
		limit = contracts.NotifyListDefault
	}
	items, err := a.reads.Page(ctx, userID, before, limit+1, unreadOnly)
	if err != nil {
		return Page{}, err
	}
	_, last, err := a.reads.Unread(ctx, userID)
	if err != nil {
		return Page{}, err
	}
	resp := Page{LastSeq: last}
	if len(items) > limit {
		items = items[:limit]
		resp.NextBefore = items[limit-1].Seq
	}
	resp.Items = items
	return resp, nil
}

// Unread is a user's unread count and latest sequence.
type Unread struct {
	Unread  int64
	LastSeq uint64
}

// MarkRead marks the user's notifications up to upTo, and those in seqs, read and returns the
// new unread count.
func (a *App) MarkRead(ctx context.Context, userID string, upTo uint64, seqs []uint64) (Unread, error) {
	if err := a.reads.MarkRead(ctx, userID, upTo, seqs); err != nil {
		return Unread{}, err
	}
	return a.UnreadCount(ctx, userID)
}

// UnreadCount answers contracts.NotifyUnreadCount for userID.
func (a *App) UnreadCount(ctx context.Context, userID string) (Unread, error) {
	n, last, err := a.reads.Unread(ctx, userID)
	return Unread{Unread: n, LastSeq: last}, err
}
