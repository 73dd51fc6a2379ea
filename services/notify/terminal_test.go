package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/notify/ports"
)

// A terminal saga event gives exactly one notification and one mail to the consumer and to the
// seller; the same event delivered again, or emitted again under a new id, adds nothing.
func TestActivatedNotifiesAndMailsEachPartyOnce(t *testing.T) {
	f := start(t)
	consumer, seller := f.consumers(1)[0], authntest.Seller()
	f.signup(seller)
	product := f.product(seller, "Family plan")
	d := terminal(product, consumer, seller, contracts.SubActive)
	env := emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)

	mail := f.smtp.waitMail(t, consumer.Email)
	sMail := f.smtp.waitMail(t, seller.Email)
	c := f.waitNotifications(consumer, 1)[0]
	s := f.waitNotifications(seller, 1)[0]
	if c.Seq != 1 || c.Kind != contracts.NotificationSubscriptionActivated || !strings.Contains(c.Body, `"Family plan"`) {
		t.Errorf("consumer's notification: %+v", c)
	}
	var ref contracts.NotificationRef
	if err := json.Unmarshal(s.Data, &ref); err != nil || ref.Role != contracts.RoleSeller || ref.SubscriptionID != d.SubscriptionID {
		t.Errorf("seller's notification data %s (%v)", s.Data, err)
	}
	if got := mail.Header.Get("Subject"); got != c.Title {
		t.Errorf("mail subject %q, want the notification's title %q", got, c.Title)
	}
	if !strings.Contains(mail.Body, "9.99 EUR") || !strings.Contains(mail.Body, d.SubscriptionID) {
		t.Errorf("mail body: %q", mail.Body)
	}
	if got := sMail.Header.Get("Subject"); got != "New subscriber" || got != s.Title {
		t.Errorf("seller's mail subject %q, want %q (the notification's title)", got, s.Title)
	}
	if !strings.Contains(sMail.Body, `"Family plan"`) || !strings.Contains(sMail.Body, "9.99 EUR") || !strings.Contains(sMail.Body, d.SubscriptionID) {
		t.Errorf("seller's mail body: %q", sMail.Body)
	}

	// The same envelope stored again (a redelivery the stream cannot drop) is absorbed by the
	// inbox; the same fact under a new event id is absorbed by the dedup key.
	seq := f.redeliver(contracts.SubscriptionActivated.Subject(d.SubscriptionID), env)
	f.handled(ports.SubscriptionConsumer, seq)
	again := emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	seq = f.redeliver(contracts.SubscriptionActivated.Subject(d.SubscriptionID), again) // after `again` itself
	f.handled(ports.SubscriptionConsumer, seq)

	if r := f.since(consumer, 0); r.LastSeq != 1 || len(r.Items) != 1 {
		t.Errorf("consumer after duplicates: last seq %d, %d items; want exactly one", r.LastSeq, len(r.Items))
	}
	if r := f.since(seller, 0); r.LastSeq != 1 || len(r.Items) != 1 {
		t.Errorf("seller after duplicates: last seq %d, %d items; want exactly one", r.LastSeq, len(r.Items))
	}
	if n := f.count(`SELECT count(*) FROM moa_inbox WHERE consumer = $1`, ports.SubscriptionConsumer.Durable); n != 2 {
		t.Errorf("inbox holds %d events, want 2 (the first event and its re-emission)", n)
	}
	if n := f.metric("moa_notify_inbox_duplicates_total", "consumer", ports.SubscriptionConsumer.Durable); n != 2 {
		t.Errorf("duplicates metric %v, want 2", n)
	}
	if n := f.count(`SELECT count(*) FROM mail_queue`); n != 2 {
		t.Errorf("mail queue holds %d mails, want 2 (consumer and seller)", n)
	}
	// Anything queued would have been sent by now: the sender is woken by each commit.
	f.handled(ports.SubscriptionConsumer, seq)
	if got := len(f.smtp.to(consumer.Email)); got != 1 {
		t.Errorf("consumer received %d mails, want 1", got)
	}
	if got := len(f.smtp.to(seller.Email)); got != 1 {
		t.Errorf("seller received %d mails, want 1", got)
	}
}

// A subscription that never started says why, to both parties, and that nothing was charged.
func TestCancelledBeforeActiveSaysWhy(t *testing.T) {
	f := start(t)
	consumer, seller := f.consumers(1)[0], authntest.Seller()
	product := f.product(seller, "Gym")
	d := terminal(product, consumer, seller, contracts.SubCancelled)
	d.Reason, d.AmountMinor = "payment_failed", 0
	emit(f, "subscription", contracts.SubscriptionCancelled, d.SubscriptionID, d)

	c := f.waitNotifications(consumer, 1)[0]
	s := f.waitNotifications(seller, 1)[0]
	if c.Kind != contracts.NotificationSubscriptionCancelled || !strings.Contains(c.Body, "payment was declined") ||
		!strings.Contains(c.Body, "Nothing was charged") {
		t.Errorf("consumer's notification: %+v", c)
	}
	if !strings.Contains(s.Body, "did not start") {
		t.Errorf("seller's notification: %+v", s)
	}
	if m := f.smtp.waitMail(t, consumer.Email); !strings.Contains(m.Body, "payment was declined") {
		t.Errorf("mail body: %q", m.Body)
	}
	// A subscription that never started is no gain or loss to the seller: no mail.
	if n := f.count(`SELECT count(*) FROM mail_queue WHERE user_id = $1`, seller.UserID); n != 0 {
		t.Errorf("the seller has %d mails for a subscription that never started, want 0", n)
	}
}

// An activated and later cancelled subscription is two terminal states: one notification per
// state per party.
func TestActivatedThenCancelledIsTwoPerParty(t *testing.T) {
	f := start(t)
	consumer, seller := f.consumers(1)[0], authntest.Seller()
	product := f.product(seller, "Box")
	d := terminal(product, consumer, seller, contracts.SubActive)
	emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	d.State, d.Reason, d.WasActive, d.AmountMinor = contracts.SubCancelled, "by_consumer", true, 450
	emit(f, "subscription", contracts.SubscriptionCancelled, d.SubscriptionID, d)

	c := f.waitNotifications(consumer, 2)
	if c[0].Kind != contracts.NotificationSubscriptionActivated || c[1].Kind != contracts.NotificationSubscriptionCancelled {
		t.Errorf("consumer's kinds in order: %s, %s", c[0].Kind, c[1].Kind)
	}
	if !strings.Contains(c[1].Body, "Refunded: 4.50 EUR") {
		t.Errorf("cancellation body: %q", c[1].Body)
	}
	f.waitNotifications(seller, 2)
}

// The seller is mailed when an active subscription ends: why, and what was refunded; once,
// however often the event arrives.
func TestCancellationMailsTheSellerWithReasonAndRefund(t *testing.T) {
	f := start(t)
	consumer, seller := f.consumers(1)[0], authntest.Seller()
	f.signup(seller)
	product := f.product(seller, "Box")
	d := terminal(product, consumer, seller, contracts.SubCancelled)
	d.Reason, d.WasActive, d.AmountMinor = "by_consumer", true, 450
	emit(f, "subscription", contracts.SubscriptionCancelled, d.SubscriptionID, d)
	again := emit(f, "subscription", contracts.SubscriptionCancelled, d.SubscriptionID, d)

	m := f.smtp.waitMail(t, seller.Email)
	if got := m.Header.Get("Subject"); got != "A subscription ended" {
		t.Errorf("seller's mail subject %q", got)
	}
	for _, want := range []string{`"Box"`, "cancelled by the consumer", "Refunded: 4.50 EUR", d.SubscriptionID, product} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("seller's mail body lacks %q: %q", want, m.Body)
		}
	}
	seq := f.redeliver(contracts.SubscriptionCancelled.Subject(d.SubscriptionID), again)
	f.handled(ports.SubscriptionConsumer, seq)
	if n := f.count(`SELECT count(*) FROM mail_queue WHERE user_id = $1`, seller.UserID); n != 1 {
		t.Errorf("the seller has %d mails for one cancellation, want 1", n)
	}
	if got := len(f.smtp.to(seller.Email)); got != 1 {
		t.Errorf("seller received %d mails, want 1", got)
	}
}

// An event whose ids cannot name a user is dead-lettered, not retried, and stores nothing.
func TestTerminalEventWithBadIDsIsDeadLettered(t *testing.T) {
	f := start(t)
	consumer, seller := authntest.Consumer(), authntest.Seller()
	d := terminal("p", consumer, seller, contracts.SubActive)
	d.ConsumerID = "not a token"
	emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	ok := terminal("p", consumer, seller, contracts.SubActive)
	emit(f, "subscription", contracts.SubscriptionActivated, ok.SubscriptionID, ok)
	f.waitNotifications(consumer, 1) // the next event went through: the bad one did not block
	if n := f.count(`SELECT count(*) FROM notifications WHERE user_id = $1`, seller.UserID); n != 1 {
		t.Errorf("seller has %d notifications, want 1 (none from the bad event)", n)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		s, err := f.Runtime.JetStream().Stream(context.Background(), contracts.StreamDeadLetter.Name)
		if err != nil {
			return err
		}
		subject := bus.DeadLetterSubject(contracts.StreamSubscription.Name, ports.SubscriptionConsumer.Durable)
		info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
		if err != nil {
			return err
		}
		if n := info.State.Subjects[subject]; n != 1 {
			return fmt.Errorf("%d dead letters on %s, want 1", n, subject)
		}
		return nil
	})
}
