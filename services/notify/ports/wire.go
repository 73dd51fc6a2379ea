package ports

import (
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/app"
	"github.com/moa-run/moa/services/notify/domain"
)

// The contract's forms of the notify service's types, both ways. A pushed notification
// (adapters.Pusher) carries the same contracts.Notification as the endpoints return.

func notificationView(n domain.Notification) contracts.Notification {
	return contracts.Notification{Seq: n.Seq, Kind: n.Kind, Title: n.Title, Body: n.Body, CreatedAt: n.CreatedAt.UTC(), Data: n.Data}
}

func unreadView(u app.Unread, err error) (contracts.NotifyUnread, error) {
	if err != nil {
		return contracts.NotifyUnread{}, err
	}
	return contracts.NotifyUnread{Unread: u.Unread, LastSeq: u.LastSeq}, nil
}

func devMailView(m app.MailboxEntry) contracts.DevMail {
	return contracts.DevMail{ID: m.ID, UserID: m.UserID, To: m.To, Subject: m.Subject, Body: m.Body,
		Status: m.Status, CreatedAt: m.CreatedAt, SentAt: m.SentAt}
}

func terminal(d contracts.SubscriptionTerminalData) domain.Terminal {
	return domain.Terminal{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, ConsumerID: d.ConsumerID,
		SellerID: d.SellerID, AmountMinor: d.AmountMinor, Currency: d.Currency, Reason: d.Reason, WasActive: d.WasActive}
}

func terms(d contracts.ProductTermsChangedData) domain.Terms {
	return domain.Terms{ProductID: d.ProductID, TermsVersion: d.TermsVersion, Terms: d.Terms}
}

func product(p contracts.Product) domain.Product {
	return domain.Product{ID: p.ID, SellerID: p.SellerID, Title: p.Title, Version: p.Version}
}

func user(u contracts.UserSignedUp) domain.User {
	return domain.User{ID: u.UserID, Email: u.Email, DisplayName: u.DisplayName, Role: string(u.Role)}
}

func comment(d contracts.PostCommentedData) domain.Comment {
	return domain.Comment{PostID: d.PostID, PostSlug: d.PostSlug, PostTitle: d.PostTitle, PostAuthorID: d.PostAuthorID,
		CommentID: d.CommentID, AuthorID: d.AuthorID, AuthorName: d.AuthorName, ParentID: d.ParentID,
		ParentAuthorID: d.ParentAuthorID, Excerpt: d.Excerpt}
}

func popular(d contracts.PostPopularData) domain.Popular {
	return domain.Popular{PostID: d.PostID, AuthorID: d.AuthorID, Title: d.Title, Threshold: d.Threshold}
}
