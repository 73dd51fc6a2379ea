package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/notify/ports"
)

// New terms reach every active subscriber, and only them: each gets a mail with the full new
// terms and a notification.
func TestTermsChangeMailsActiveSubscribersOnly(t *testing.T) {
	f := start(t)
	users := f.consumers(3)
	subscribers, bystander := users[:2], users[2]
	seller := authntest.Seller()
	f.signup(seller)
	product := f.product(seller, "Family plan")
	f.subs.set(product, subscribers...)
	terms := "§1 The plan covers up to six people.\n§2 Cancel any time; unused days are refunded pro rata. " +
		strings.Repeat("Further clause. ", 60) + "§9 Version three applies from today."
	ev := emit(f, "catalog", contracts.ProductTermsChanged, product, contracts.ProductTermsChangedData{
		ProductID: product, SellerID: seller.UserID, TermsVersion: 3, PreviousVersion: 2, Terms: terms})

	for _, u := range subscribers {
		m := f.smtp.waitMail(t, u.Email)
		if !strings.Contains(m.Body, terms) {
			t.Errorf("mail to %s does not hold the new terms:\n%s", u.Email, m.Body)
		}
		if !strings.Contains(m.Header.Get("Subject"), "Family plan") {
			t.Errorf("mail subject %q does not name the product", m.Header.Get("Subject"))
		}
		n := f.waitNotifications(u, 1)[0]
		if n.Kind != contracts.NotificationTermsChanged || !strings.Contains(n.Body, "§1 The plan covers") {
			t.Errorf("notification to %s: %+v", u.UserID, n)
		}
	}
	seq := f.redeliver(contracts.ProductTermsChanged.Subject(product), ev)
	f.handled(ports.CatalogConsumer, seq)
	if got := f.since(bystander, 0); got.LastSeq != 0 {
		t.Errorf("a non-subscriber got %d notifications", got.LastSeq)
	}
	if got := f.smtp.to(bystander.Email); len(got) != 0 {
		t.Errorf("a non-subscriber got %d mails", len(got))
	}
	if got := f.since(seller, 0); got.LastSeq != 0 {
		t.Errorf("the seller got %d notifications about their own terms", got.LastSeq)
	}
	for _, u := range subscribers {
		if got := len(f.smtp.to(u.Email)); got != 1 {
			t.Errorf("%s got %d mails after a redelivery, want 1", u.Email, got)
		}
	}
}

// When the subscription service cannot answer, the terms change is retried until it can:
// nobody misses the new terms.
func TestTermsChangeWaitsForTheSubscriptionService(t *testing.T) {
	f := start(t)
	u := f.consumers(1)[0]
	seller := authntest.Seller()
	product := f.product(seller, "Gym")
	f.subs.set(product, u)
	f.subs.fail.Store(2) // the first two calls fail (the client itself may retry too)
	emit(f, "catalog", contracts.ProductTermsChanged, product, contracts.ProductTermsChangedData{
		ProductID: product, SellerID: seller.UserID, TermsVersion: 2, PreviousVersion: 1, Terms: "New gym rules."})
	m := f.smtp.waitMail(t, u.Email)
	if !strings.Contains(m.Body, "New gym rules.") {
		t.Errorf("mail body: %q", m.Body)
	}
	moatest.Eventually(t, 10*time.Second, func() bool { return f.subs.calls.Load() >= 3 }, "the subscribers endpoint was not called again")
	f.waitNotifications(u, 1)
}
