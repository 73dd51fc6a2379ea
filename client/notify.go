package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// NotifyClient calls the notify service. Every call needs the caller's access token on ctx
// (bus.WithAuthToken): the notifications are always the token user's.
type NotifyClient struct{ c *bus.Client }

// NewNotifyClient returns the notify client over c.
func NewNotifyClient(c *bus.Client) *NotifyClient { return &NotifyClient{c: c} }

// Since returns the caller's notifications after sequence since, oldest first, or
// Recoverable false when the service no longer has every one of them (reload, then continue
// from LastSeq).
func (c *NotifyClient) Since(ctx context.Context, since uint64) (contracts.NotifySinceResp, error) {
	return bus.Call(ctx, c.c, contracts.NotifySince, contracts.NotifySinceReq{Since: since})
}

// List returns a page of the caller's notifications, newest first; set req.Before to the
// reply's NextBefore for the next page.
func (c *NotifyClient) List(ctx context.Context, req contracts.NotifyListReq) (contracts.NotifyListResp, error) {
	return bus.Call(ctx, c.c, contracts.NotifyList, req)
}

// MarkRead marks the caller's notifications up to upTo (0: none) and those in seqs read, and
// returns the unread count after it.
func (c *NotifyClient) MarkRead(ctx context.Context, upTo uint64, seqs ...uint64) (contracts.NotifyUnread, error) {
	return bus.Call(ctx, c.c, contracts.NotifyMarkRead, contracts.NotifyMarkReadReq{UpTo: upTo, Seqs: seqs})
}

// UnreadCount returns how many of the caller's stored notifications are unread.
func (c *NotifyClient) UnreadCount(ctx context.Context) (contracts.NotifyUnread, error) {
	return bus.Call(ctx, c.c, contracts.NotifyUnreadCount, contracts.Empty{})
}

// DevMailbox lists the dev mailbox of `moa dev` (forbidden when mails go to SMTP): a user's
// own mail (req.To their address), or every mail with an operator token.
func (c *NotifyClient) DevMailbox(ctx context.Context, req contracts.DevMailboxReq) (contracts.DevMailbox, error) {
	return bus.Call(ctx, c.c, contracts.NotifyDevMailbox, req)
}
