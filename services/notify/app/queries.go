package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/domain"
)

// Since answers contracts.NotifySince for userID: every notification after since, or
// Recoverable false when that cannot be every one.
func (a *App) Since(ctx context.Context, userID string, since uint64) (contracts.NotifySinceResp, error) {
	last, items, err := a.reads.Since(ctx, userID, since, contracts.NotifySinceMax)
	if err != nil {
		return contracts.NotifySinceResp{}, err
	}
	var first uint64
	if len(items) > 0 {
		first = items[0].Seq
	}
	resp := contracts.NotifySinceResp{Items: []contracts.Notification{}, LastSeq: last}
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
	for _, n := range items {
		resp.Items = append(resp.Items, View(n))
	}
	return resp, nil
}

// List answers contracts.NotifyList for userID.
func (a *App) List(ctx context.Context, userID string, r contracts.NotifyListReq) (contracts.NotifyListResp, error) {
	limit := r.Limit
	if limit == 0 {
		limit = contracts.NotifyListDefault
	}
	items, err := a.reads.Page(ctx, userID, r.Before, limit+1, r.UnreadOnly)
	if err != nil {
		return contracts.NotifyListResp{}, err
	}
	_, last, err := a.reads.Unread(ctx, userID)
	if err != nil {
		return contracts.NotifyListResp{}, err
	}
	resp := contracts.NotifyListResp{Items: []contracts.NotificationItem{}, LastSeq: last}
	if len(items) > limit {
		items = items[:limit]
		resp.NextBefore = items[limit-1].Seq
	}
	for _, n := range items {
		resp.Items = append(resp.Items, contracts.NotificationItem{Notification: View(n), Read: n.Read})
	}
	return resp, nil
}

// MarkRead marks the user's notifications read and returns the new unread count.
func (a *App) MarkRead(ctx context.Context, userID string, r contracts.NotifyMarkReadReq) (contracts.NotifyUnread, error) {
	if err := a.reads.MarkRead(ctx, userID, r.UpTo, r.Seqs); err != nil {
		return contracts.NotifyUnread{}, err
	}
	return a.UnreadCount(ctx, userID)
}

// UnreadCount answers contracts.NotifyUnreadCount for userID.
func (a *App) UnreadCount(ctx context.Context, userID string) (contracts.NotifyUnread, error) {
	n, last, err := a.reads.Unread(ctx, userID)
	return contracts.NotifyUnread{Unread: n, LastSeq: last}, err
}

// View is the contract form of a stored notification.
func View(n domain.Notification) contracts.Notification {
	return contracts.Notification{Seq: n.Seq, Kind: n.Kind, Title: n.Title, Body: n.Body, CreatedAt: n.CreatedAt.UTC(), Data: n.Data}
}
