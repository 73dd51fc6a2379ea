package notify_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// A mail for a user whose signup event has not arrived yet waits for it, and goes out as soon
// as it does.
func TestMailWaitsForTheRecipientsAddress(t *testing.T) {
	f := start(t)
	consumer, seller := authntest.Consumer(), authntest.Seller()
	d := terminal("p-1", consumer, seller, contracts.SubActive)
	emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	f.waitNotifications(consumer, 1)
	moatest.WaitFor(t, 20*time.Second, func() error {
		if n := f.count(`SELECT count(*) FROM mail_queue WHERE user_id = $1 AND status = 'pending' AND attempts > 0 AND last_error IS NOT NULL`, consumer.UserID); n != 1 {
			return fmt.Errorf("%d mails tried and waiting, want 1", n)
		}
		return nil
	})
	if f.smtp.total() != 0 {
		t.Fatal("a mail went out without an address")
	}
	f.signup(consumer)
	m := f.smtp.waitMail(t, consumer.Email)
	if to := m.Header.Get("To"); !strings.Contains(to, consumer.Email) || !strings.Contains(to, consumer.DisplayName) {
		t.Errorf("To: %q", to)
	}
}

// A temporary SMTP failure is retried until the mail is delivered, once.
func TestTemporarySMTPFailureIsRetried(t *testing.T) {
	f := start(t)
	var refused atomic.Int32
	f.smtp.setReject(func(string) *smtp.SMTPError {
		if refused.Add(1) <= 2 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later (test)"}
		}
		return nil
	})
	consumer, seller := f.consumers(1)[0], authntest.Seller()
	d := terminal("p-1", consumer, seller, contracts.SubActive)
	emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	f.smtp.waitMail(t, consumer.Email)
	if got := refused.Load(); got < 3 {
		t.Errorf("the server saw %d attempts, want at least 3", got)
	}
	moatest.WaitFor(t, 10*time.Second, func() error {
		if n := f.count(`SELECT count(*) FROM mail_queue WHERE status = 'sent' AND attempts = 3 AND transport = 'smtp'`); n != 1 {
			return fmt.Errorf("the mail is not marked sent after 3 attempts")
		}
		return nil
	})
	if got := len(f.smtp.to(consumer.Email)); got != 1 {
		t.Errorf("%d mails delivered, want 1", got)
	}
}

// A recipient the server refuses for good is marked failed, kept, and not retried.
func TestPermanentSMTPRefusalIsRecordedNotRetried(t *testing.T) {
	f := start(t)
	var tries atomic.Int32
	f.smtp.setReject(func(string) *smtp.SMTPError {
		tries.Add(1)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user (test)"}
	})
	consumer, seller := f.consumers(1)[0], authntest.Seller()
	d := terminal("p-1", consumer, seller, contracts.SubActive)
	emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	moatest.WaitFor(t, 20*time.Second, func() error {
		if n := f.count(`SELECT count(*) FROM mail_queue WHERE status = 'failed' AND last_error LIKE '%550%'`); n != 1 {
			return fmt.Errorf("the mail is not marked failed")
		}
		return nil
	})
	// A retry would come within a second or two; the queue row says there was one attempt.
	if n := f.count(`SELECT attempts FROM mail_queue WHERE user_id = $1`, consumer.UserID); n != 1 || tries.Load() != 1 {
		t.Errorf("%d attempts recorded, %d seen by the server; want 1", n, tries.Load())
	}
}

// Without an SMTP server (moa dev), mails land in the dev mailbox, listed by address.
func TestDevMailbox(t *testing.T) {
	f := start(t, withSetting("SMTP_ADDR", ""))
	users := f.consumers(2)
	seller := authntest.Seller()
	for _, u := range users {
		d := terminal("p-1", u, seller, contracts.SubActive)
		emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	}
	var box contracts.DevMailbox
	moatest.WaitFor(t, 20*time.Second, func() error {
		var err error
		if box, err = f.notify.DevMailbox(f.as(users[0]), contracts.DevMailboxReq{To: strings.ToUpper(users[0].Email)}); err != nil {
			return err
		}
		if len(box.Items) != 1 || box.Items[0].Status != "sent" {
			return fmt.Errorf("dev mailbox for %s: %+v", users[0].Email, box.Items)
		}
		return nil
	})
	m := box.Items[0]
	if m.To != users[0].Email || m.UserID != users[0].UserID || !strings.Contains(m.Body, "9.99 EUR") || m.SentAt == nil {
		t.Errorf("dev mail: %+v", m)
	}
	// The operator reads the whole mailbox: both consumers' mails and the seller's two "new
	// subscriber" mails, once they are all written.
	moatest.WaitFor(t, 20*time.Second, func() error {
		all, err := f.notify.DevMailbox(f.as(authntest.Operator()), contracts.DevMailboxReq{})
		if err != nil {
			return err
		}
		if len(all.Items) != 4 {
			return fmt.Errorf("whole dev mailbox: %d items, want 4", len(all.Items))
		}
		return nil
	})
	// The seller, once signed up, reads their own: one mail per new subscriber.
	f.signup(seller)
	moatest.WaitFor(t, 20*time.Second, func() error {
		sbox, err := f.notify.DevMailbox(f.as(seller), contracts.DevMailboxReq{To: seller.Email})
		if err != nil {
			return err
		}
		if len(sbox.Items) != 2 {
			return fmt.Errorf("seller's dev mailbox: %d items, want 2", len(sbox.Items))
		}
		for _, m := range sbox.Items {
			if m.Subject != "New subscriber" || m.Status != "sent" || !strings.Contains(m.Body, "9.99 EUR") {
				return fmt.Errorf("seller's dev mail: %+v", m)
			}
		}
		return nil
	})
	// Nobody else reads it: no token, a user asking for everything or for someone else.
	_, err := f.notify.DevMailbox(t.Context(), contracts.DevMailboxReq{To: users[0].Email})
	moatest.WantError(t, err, contracts.ErrUnauthenticated, "", "dev mailbox without a token")
	_, err = f.notify.DevMailbox(f.as(users[1]), contracts.DevMailboxReq{})
	moatest.WantError(t, err, contracts.ErrForbidden, "", "whole dev mailbox as a consumer")
	_, err = f.notify.DevMailbox(f.as(users[1]), contracts.DevMailboxReq{To: users[0].Email})
	moatest.WantError(t, err, contracts.ErrForbidden, "", "another user's mail")
	_, err = f.notify.DevMailbox(f.as(seller), contracts.DevMailboxReq{})
	moatest.WantError(t, err, contracts.ErrForbidden, "", "whole dev mailbox as a seller")
	if f.smtp.total() != 0 {
		t.Error("a mail went to SMTP with SMTP_ADDR unset")
	}
}

// A recipient address that cannot be written into a mail fails that mail only; the others of
// its batch still go out.
func TestUnusableAddressFailsOnlyItsMail(t *testing.T) {
	f := start(t)
	bad, good := authntest.Consumer(), authntest.Consumer()
	bad.Email = "no-at-sign"
	f.signup(bad)
	f.signup(good)
	seller := authntest.Seller()
	for _, u := range []contracts.Principal{bad, good} {
		d := terminal("p-1", u, seller, contracts.SubActive)
		emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	}
	f.smtp.waitMail(t, good.Email)
	moatest.WaitFor(t, 20*time.Second, func() error {
		if n := f.count(`SELECT count(*) FROM mail_queue WHERE user_id = $1 AND status = 'failed'`, bad.UserID); n != 1 {
			return fmt.Errorf("the mail to an unusable address is not marked failed")
		}
		return nil
	})
}
