package app

import (
	"context"
	"sort"

	"github.com/moa-run/moa/services/notify/domain"
)

// SubscriptionEnded handles a terminal saga event (kind names which): one notification to the
// consumer, one to the seller, a mail to the consumer.
func (a *App) SubscriptionEnded(ctx context.Context, w Writer, kind string, d domain.Terminal) (Effects, error) {
	p, err := w.Product(ctx, d.ProductID)
	if err != nil {
		return Effects{}, err
	}
	n, err := domain.SubscriptionEnded(kind, d, p)
	if err != nil {
		return Effects{}, err
	}
	return a.store(ctx, w, n)
}

// TermsChanged mails the new terms to every active subscriber of the product and notifies
// each of them. The subscribers are the ones active when the event is handled.
func (a *App) TermsChanged(ctx context.Context, w Writer, d domain.Terms) (Effects, error) {
	subs, err := a.subs.Active(ctx, d.ProductID)
	if err != nil {
		return Effects{}, err
	}
	p, err := w.Product(ctx, d.ProductID)
	if err != nil {
		return Effects{}, err
	}
	n, err := domain.TermsChanged(d, p, subs)
	if err != nil {
		return Effects{}, err
	}
	return a.store(ctx, w, n)
}

// Commented handles a new comment on a blog post: an alert with a mail to the post's author and,
// for a reply, to the parent comment's author, never to the commenter (domain.Commented).
func (a *App) Commented(ctx context.Context, w Writer, c domain.Comment) (Effects, error) {
	n, err := domain.Commented(c)
	if err != nil {
		return Effects{}, err
	}
	return a.store(ctx, w, n)
}

// PostPopular handles a blog post crossing a view threshold: one alert with a mail to its
// author per post and threshold (domain.Popularity).
func (a *App) PostPopular(ctx context.Context, w Writer, p domain.Popular) (Effects, error) {
	n, err := domain.Popularity(p)
	if err != nil {
		return Effects{}, err
	}
	return a.store(ctx, w, n)
}

// ProductSeen records a product's title for the words of later notifications.
func (a *App) ProductSeen(ctx context.Context, w Writer, p domain.Product) error {
	return w.SaveProduct(ctx, p)
}

// UserSignedUp adds an account to the directory mails are addressed from.
func (a *App) UserSignedUp(ctx context.Context, w Writer, u domain.User) error {
	return w.SaveUser(ctx, u)
}

// store appends the notifications in user id order, so that two transactions touching the
// same users lock their sequence rows in the same order and cannot deadlock.
func (a *App) store(ctx context.Context, w Writer, n domain.Notices) (Effects, error) {
	sort.SliceStable(n.Notifications, func(i, j int) bool { return n.Notifications[i].UserID < n.Notifications[j].UserID })
	var eff Effects
	for _, d := range n.Notifications {
		stored, created, err := w.Append(ctx, d)
		if err != nil {
			return Effects{}, err
		}
		if created {
			eff.Notifications = append(eff.Notifications, stored)
		}
	}
	for _, m := range n.Mails {
		queued, err := w.EnqueueMail(ctx, m)
		if err != nil {
			return Effects{}, err
		}
		if queued {
			eff.Mails++
		}
	}
	return eff, nil
}
