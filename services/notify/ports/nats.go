// Package ports puts the notify service on the bus: its endpoints, where the caller is always
// the user of the verified access token, and its event consumers, which write through the inbox
// and push after the commit. The wire types of contracts that come in (events, requests) and
// go back (responses) are mapped here (wire.go), so the app and the domain never see them.
// Ports depend on the app only: the adapters the consumers need (the writer on the inbox's
// transaction, the pusher) come in through Deps, wired by the service's Start.
package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/app"
)

// Endpoints adapts the app to contracts.
type Endpoints struct {
	app *app.App
}

// Register adds every notify endpoint to svc. Every one wants a signed-in user (declared in
// contracts, checked by the bus with v); the notifications are always the caller's own.
func Register(svc *bus.Service, a *app.App, v *authn.Verifier) error {
	svc.UseVerifier(v)
	e := &Endpoints{app: a}
	for _, err := range []error{
		bus.Handle(svc, contracts.NotifySince, e.since),
		bus.Handle(svc, contracts.NotifyList, e.list),
		bus.Handle(svc, contracts.NotifyMarkRead, e.markRead),
		bus.Handle(svc, contracts.NotifyUnreadCount, e.unread),
		bus.Handle(svc, contracts.NotifyDevMailbox, e.devMailbox),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// user is the caller, verified by the bus.
func (e *Endpoints) user(ctx context.Context) string {
	p, _ := bus.Caller(ctx)
	return p.UserID
}

func (e *Endpoints) since(ctx context.Context, r contracts.NotifySinceReq) (contracts.NotifySinceResp, error) {
	u := e.user(ctx)
	s, err := e.app.Since(ctx, u, r.Since)
	if err != nil {
		return contracts.NotifySinceResp{}, err
	}
	resp := contracts.NotifySinceResp{Items: make([]contracts.Notification, 0, len(s.Items)), Recoverable: s.Recoverable, LastSeq: s.LastSeq}
	for _, n := range s.Items {
		resp.Items = append(resp.Items, notificationView(n))
	}
	return resp, nil
}

func (e *Endpoints) list(ctx context.Context, r contracts.NotifyListReq) (contracts.NotifyListResp, error) {
	u := e.user(ctx)
	p, err := e.app.List(ctx, u, r.Before, r.Limit, r.UnreadOnly)
	if err != nil {
		return contracts.NotifyListResp{}, err
	}
	resp := contracts.NotifyListResp{Items: make([]contracts.NotificationItem, 0, len(p.Items)), NextBefore: p.NextBefore, LastSeq: p.LastSeq}
	for _, n := range p.Items {
		resp.Items = append(resp.Items, contracts.NotificationItem{Notification: notificationView(n), Read: n.Read})
	}
	return resp, nil
}

func (e *Endpoints) markRead(ctx context.Context, r contracts.NotifyMarkReadReq) (contracts.NotifyUnread, error) {
	u := e.user(ctx)
	return unreadView(e.app.MarkRead(ctx, u, r.UpTo, r.Seqs))
}

func (e *Endpoints) unread(ctx context.Context, _ contracts.Empty) (contracts.NotifyUnread, error) {
	u := e.user(ctx)
	return unreadView(e.app.UnreadCount(ctx, u))
}

// devMailbox shows an operator every mail, and a signed-in user only the mails to their own
// address (the demo page's view); without a token it answers nothing, even in development
// (the bus refuses it: contracts.NotifyDevMailbox wants a signed-in caller).
func (e *Endpoints) devMailbox(ctx context.Context, r contracts.DevMailboxReq) (contracts.DevMailbox, error) {
	p, _ := bus.Caller(ctx)
	if p.Role != contracts.RoleOperator {
		to, err := contracts.NormalizeEmail(r.To)
		if err != nil || p.Email == "" || to != p.Email {
			return contracts.DevMailbox{}, contracts.ErrForbidden.Msg("only your own mail (to: your address); the whole dev mailbox is for operators")
		}
	}
	mails, err := e.app.DevMailbox(ctx, r.To, r.Limit)
	if err != nil {
		return contracts.DevMailbox{}, err
	}
	out := contracts.DevMailbox{Items: make([]contracts.DevMail, 0, len(mails))}
	for _, m := range mails {
		out.Items = append(out.Items, devMailView(m))
	}
	return out, nil
}
