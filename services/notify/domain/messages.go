package domain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moa-run/moa/contracts"
)

// TermsExcerptRunes bounds how much of new terms a notification repeats; the mail has them all.
const TermsExcerptRunes = 280

// Notices are what one event turns into.
type Notices struct {
	Notifications []Draft
	Mails         []Mail
}

// SubscriptionEnded is what a terminal saga event says: one notification to the consumer, one
// to the seller, a mail to the consumer, and a mail to the seller when it gains or loses an
// active subscriber. kind is contracts.NotificationSubscriptionActivated
// or contracts.NotificationSubscriptionCancelled; p may be zero when the product is unknown.
func SubscriptionEnded(kind string, d Terminal, p Product) (Notices, error) {
	for _, f := range [][2]string{{"subscription_id", d.SubscriptionID}, {"consumer_id", d.ConsumerID}, {"seller_id", d.SellerID}} {
		if !contracts.IsToken(f[1]) {
			return Notices{}, contracts.ErrValidation.OnField(f[0], "%s %q is not a valid id", f[0], f[1])
		}
	}
	name := productName(p, d.ProductID)
	amount := Money(d.AmountMinor, d.Currency)
	var cTitle, cBody, sTitle, sBody string
	switch kind {
	case contracts.NotificationSubscriptionActivated:
		cTitle = "Your subscription is active"
		cBody = fmt.Sprintf("Your subscription to %s is active. Charged: %s.", name, amount)
		sTitle = "New subscriber"
		sBody = fmt.Sprintf("A consumer subscribed to %s (%s).", name, amount)
	case contracts.NotificationSubscriptionCancelled:
		why := reasonText(d.Reason)
		if d.WasActive {
			cTitle = "Your subscription is cancelled"
			cBody = fmt.Sprintf("Your subscription to %s is cancelled (%s).", name, why)
			sTitle = "A subscription ended"
			sBody = fmt.Sprintf("A consumer's subscription to %s ended (%s).", name, why)
		} else {
			cTitle = "Your subscription could not start"
			cBody = fmt.Sprintf("Your subscription to %s could not start: %s.", name, why)
			sTitle = "A subscription did not start"
			sBody = fmt.Sprintf("A consumer's subscription to %s did not start: %s.", name, why)
		}
		if d.AmountMinor > 0 {
			cBody += fmt.Sprintf(" Refunded: %s.", amount)
			sBody += fmt.Sprintf(" Refunded: %s.", amount)
		} else if !d.WasActive {
			cBody += " Nothing was charged."
		} else {
			sBody += " Nothing was refunded."
		}
	default:
		return Notices{}, fmt.Errorf("notify: %q is not a subscription notification kind", kind)
	}
	// The role is in the key: a seller who subscribes to their own product gets both.
	key := func(r contracts.Role) string { return kind + ":" + d.SubscriptionID + ":" + string(r) }
	// The seller is mailed about what changes their subscriber count and revenue: a new
	// subscriber and the end of an active subscription (with the refund it cost). A saga that
	// never started (no seat, payment declined) is only a notification: nothing was gained or
	// lost, and a seller would otherwise get a mail for each declined card.
	mails := []Mail{{
		UserID: d.ConsumerID, DedupKey: key(contracts.RoleConsumer), Subject: cTitle,
		Body: cBody + "\n\nSubscription: " + d.SubscriptionID + "\n",
	}}
	if kind == contracts.NotificationSubscriptionActivated || d.WasActive {
		mails = append(mails, Mail{
			UserID: d.SellerID, DedupKey: key(contracts.RoleSeller), Subject: sTitle,
			Body: sBody + "\n\nProduct: " + d.ProductID + "\nSubscription: " + d.SubscriptionID + "\n",
		})
	}
	ref := func(r contracts.Role) json.RawMessage {
		b, _ := json.Marshal(contracts.SubscriptionNoticeData{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, Role: r, Reason: d.Reason})
		return b
	}
	return Notices{
		Notifications: []Draft{
			{UserID: d.ConsumerID, Kind: kind, Title: cTitle, Body: cBody, Data: ref(contracts.RoleConsumer), DedupKey: key(contracts.RoleConsumer)},
			{UserID: d.SellerID, Kind: kind, Title: sTitle, Body: sBody, Data: ref(contracts.RoleSeller), DedupKey: key(contracts.RoleSeller)},
		},
		Mails: mails,
	}, nil
}

// TermsChanged is what new terms say to the product's active subscribers: a notification with
// an excerpt and a mail with the full new terms, to each of them.
func TermsChanged(d Terms, p Product, subscribers []string) (Notices, error) {
	name := productName(p, d.ProductID)
	key := contracts.NotificationTermsChanged + ":" + d.ProductID + ":v" + strconv.Itoa(d.TermsVersion)
	data, _ := json.Marshal(contracts.TermsNoticeData{ProductID: d.ProductID, Role: contracts.RoleConsumer, TermsVersion: d.TermsVersion})
	title := "New terms for " + name
	body := fmt.Sprintf("The seller changed the terms of %s (version %d):\n\n%s", name, d.TermsVersion, Excerpt(d.Terms, TermsExcerptRunes))
	mailBody := fmt.Sprintf("Hello,\n\nthe seller changed the terms of %s, which you subscribe to. "+
		"These are the new terms (version %d):\n\n%s\n\nProduct: %s\n", name, d.TermsVersion, d.Terms, d.ProductID)
	var n Notices
	seen := map[string]bool{}
	for _, u := range subscribers {
		if seen[u] {
			continue
		}
		seen[u] = true
		if !contracts.IsToken(u) {
			return Notices{}, contracts.ErrValidation.OnField("consumer_ids", "subscriber id %q is not a valid id", u)
		}
		n.Notifications = append(n.Notifications, Draft{UserID: u, Kind: contracts.NotificationTermsChanged,
			Title: title, Body: body, Data: data, DedupKey: key})
		n.Mails = append(n.Mails, Mail{UserID: u, DedupKey: key, Subject: title, Body: mailBody})
	}
	return n, nil
}

// Excerpt cuts s to at most n runes, marking the cut.
func Excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n]), " \n\t") + "…"
}

func productName(p Product, id string) string {
	if p.Title != "" {
		return strconv.Quote(p.Title)
	}
	return "product " + id
}

func reasonText(reason string) string {
	switch reason {
	case "seat_unavailable":
		return "no seats were left"
	case "payment_failed":
		return "the payment was declined"
	case "by_consumer":
		return "cancelled by the consumer"
	case "timed_out":
		return "it could not be completed in time"
	case "":
		return "no reason given"
	}
	return reason
}

// zeroDecimal are the ISO 4217 currencies without minor units.
var zeroDecimal = map[string]bool{
	"BIF": true, "CLP": true, "DJF": true, "GNF": true, "ISK": true, "JPY": true, "KMF": true, "KRW": true,
	"PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
}

// Money formats an amount in minor units: Money(999, "USD") is "9.99 USD".
func Money(minor int64, currency string) string {
	if zeroDecimal[currency] {
		return strconv.FormatInt(minor, 10) + " " + currency
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}
