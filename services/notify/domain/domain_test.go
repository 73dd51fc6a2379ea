package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/domain"
)

func TestRecoverable(t *testing.T) {
	const max = 500
	for _, c := range []struct {
		name               string
		since, last, first uint64
		want               bool
	}{
		{"nothing yet", 0, 0, 0, true},
		{"up to date", 7, 7, 0, true},
		{"all kept", 0, 3, 1, true},
		{"behind, next kept", 4, 9, 5, true},
		{"behind, next pruned", 4, 9, 6, false},
		{"nothing kept after since", 4, 9, 0, false},
		{"exactly max behind", 0, max, 1, true},
		{"more than max behind", 0, max + 1, 1, false},
		{"client ahead of the service", 12, 9, 0, false},
	} {
		if got := domain.Recoverable(c.since, c.last, c.first, max); got != c.want {
			t.Errorf("%s: Recoverable(%d, %d, %d) = %v, want %v", c.name, c.since, c.last, c.first, got, c.want)
		}
	}
}

func terminal() domain.Terminal {
	return domain.Terminal{SubscriptionID: "s-1", ProductID: "p-1", ConsumerID: "c-1", SellerID: "v-1",
		AmountMinor: 1250, Currency: "EUR"}
}

func TestSubscriptionEndedGivesOneToEachPartyAndMailsTheConsumer(t *testing.T) {
	n, err := domain.SubscriptionEnded(contracts.NotificationSubscriptionActivated, terminal(), domain.Product{Title: "Family plan"})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Notifications) != 2 || n.Notifications[0].UserID != "c-1" || n.Notifications[1].UserID != "v-1" {
		t.Fatalf("notifications: %+v", n.Notifications)
	}
	if n.Notifications[0].DedupKey == n.Notifications[1].DedupKey {
		t.Errorf("consumer and seller share a dedup key %q: a seller subscribing to their own product would lose one", n.Notifications[0].DedupKey)
	}
	if len(n.Mails) != 2 || n.Mails[0].UserID != "c-1" || n.Mails[1].UserID != "v-1" {
		t.Fatalf("mails: %+v", n.Mails)
	}
	for _, m := range n.Mails {
		if !strings.Contains(m.Body, `"Family plan"`) || !strings.Contains(m.Body, "12.50 EUR") {
			t.Errorf("mail to %s lacks product or amount: %q", m.UserID, m.Body)
		}
	}
	if n.Mails[0].DedupKey == n.Mails[1].DedupKey || n.Mails[1].DedupKey != n.Notifications[1].DedupKey {
		t.Errorf("mail keys %q, %q: want one per role, as the notifications", n.Mails[0].DedupKey, n.Mails[1].DedupKey)
	}
}

// The seller is mailed when an active subscription ends, with the refund or its absence, but not
// about a saga that never started.
func TestSellerMailsOnlyForGainedOrLostSubscribers(t *testing.T) {
	d := terminal()
	d.Reason, d.AmountMinor = "payment_failed", 0
	n, err := domain.SubscriptionEnded(contracts.NotificationSubscriptionCancelled, d, domain.Product{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Mails) != 1 || n.Mails[0].UserID != "c-1" {
		t.Errorf("never-started cancellation mails %+v, want the consumer only", n.Mails)
	}
	for amount, want := range map[int64]string{500: "Refunded: 5.00 EUR", 0: "Nothing was refunded"} {
		d.Reason, d.WasActive, d.AmountMinor = "by_consumer", true, amount
		n, err = domain.SubscriptionEnded(contracts.NotificationSubscriptionCancelled, d, domain.Product{})
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Mails) != 2 || n.Mails[1].UserID != "v-1" || n.Mails[1].Subject != "A subscription ended" ||
			!strings.Contains(n.Mails[1].Body, "cancelled by the consumer") || !strings.Contains(n.Mails[1].Body, want) {
			t.Errorf("cancellation refunding %d: mails %+v", amount, n.Mails)
		}
	}
}

func TestCancelledWordsDependOnHistory(t *testing.T) {
	d := terminal()
	d.Reason, d.AmountMinor = "seat_unavailable", 0
	n, err := domain.SubscriptionEnded(contracts.NotificationSubscriptionCancelled, d, domain.Product{})
	if err != nil {
		t.Fatal(err)
	}
	if b := n.Notifications[0].Body; !strings.Contains(b, "no seats") || !strings.Contains(b, "Nothing was charged") || !strings.Contains(b, "product p-1") {
		t.Errorf("never-active cancellation: %q", b)
	}
	d.Reason, d.WasActive, d.AmountMinor = "by_consumer", true, 500
	n, err = domain.SubscriptionEnded(contracts.NotificationSubscriptionCancelled, d, domain.Product{})
	if err != nil {
		t.Fatal(err)
	}
	if b := n.Notifications[0].Body; !strings.Contains(b, "Refunded: 5.00 EUR") {
		t.Errorf("cancellation with refund: %q", b)
	}
}

func TestSubscriptionEndedRejectsIDsThatAreNotTokens(t *testing.T) {
	d := terminal()
	d.SellerID = "a.b"
	_, err := domain.SubscriptionEnded(contracts.NotificationSubscriptionActivated, d, domain.Product{})
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != contracts.ErrValidation.Code || ce.Field != "seller_id" {
		t.Fatalf("got %v, want validation_failed on seller_id", err)
	}
}

func TestTermsChangedMailsTheFullTermsOncePerSubscriber(t *testing.T) {
	terms := strings.Repeat("Clause. ", 100) + "THE END"
	d := domain.Terms{ProductID: "p-1", TermsVersion: 3, Terms: terms}
	n, err := domain.TermsChanged(d, domain.Product{Title: "Plan"}, []string{"c-1", "c-2", "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Notifications) != 2 || len(n.Mails) != 2 {
		t.Fatalf("got %d notifications and %d mails for two distinct subscribers", len(n.Notifications), len(n.Mails))
	}
	for _, m := range n.Mails {
		if !strings.Contains(m.Body, terms) {
			t.Errorf("mail to %s lacks the full terms", m.UserID)
		}
	}
	if b := n.Notifications[0].Body; strings.Contains(b, "THE END") || !strings.HasSuffix(b, "…") {
		t.Errorf("notification body is not an excerpt: %q", b)
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[[2]any]string{
		{int64(999), "USD"}: "9.99 USD", {int64(5900), "KRW"}: "5900 KRW", {int64(5), "EUR"}: "0.05 EUR", {int64(-120), "EUR"}: "-1.20 EUR",
	} {
		if got := domain.Money(in[0].(int64), in[1].(string)); got != want {
			t.Errorf("Money(%v) = %q, want %q", in, got, want)
		}
	}
}

func blogComment() domain.Comment {
	return domain.Comment{PostID: "p-1", PostSlug: "hello", PostTitle: "Hello", PostAuthorID: "w-1",
		CommentID: "c-2", AuthorID: "a-1", AuthorName: "Alice", Excerpt: "Nice!"}
}

func TestCommentedTellsTheRightPeopleOnce(t *testing.T) {
	type alert struct{ user, kind string }
	reply := func(parentAuthor, author string) domain.Comment {
		c := blogComment()
		c.ParentID, c.ParentAuthorID, c.AuthorID = "c-1", parentAuthor, author
		return c
	}
	top := blogComment()
	own := blogComment()
	own.AuthorID = "w-1"
	for _, tc := range []struct {
		name string
		c    domain.Comment
		want []alert
	}{
		{"comment on someone's post", top, []alert{{"w-1", contracts.NotificationPostCommented}}},
		{"comment on your own post", own, nil},
		{"reply to a third reader", reply("b-1", "a-1"), []alert{{"b-1", contracts.NotificationCommentReplied}, {"w-1", contracts.NotificationPostCommented}}},
		{"reply to the post's author", reply("w-1", "a-1"), []alert{{"w-1", contracts.NotificationCommentReplied}}},
		{"the post's author replies", reply("b-1", "w-1"), []alert{{"b-1", contracts.NotificationCommentReplied}}},
		{"reply to yourself", reply("a-1", "a-1"), []alert{{"w-1", contracts.NotificationPostCommented}}},
		{"the post's author replies to themself", reply("w-1", "w-1"), nil},
	} {
		n, err := domain.Commented(tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []alert
		for _, d := range n.Notifications {
			got = append(got, alert{d.UserID, d.Kind})
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(n.Mails) != len(tc.want) {
			t.Errorf("%s: alerts %v and %d mails, want %v", tc.name, got, len(n.Mails), tc.want)
		}
		for i, m := range n.Mails {
			if m.UserID != n.Notifications[i].UserID || m.DedupKey != n.Notifications[i].DedupKey {
				t.Errorf("%s: mail %d (%s, %s) does not match its notification", tc.name, i, m.UserID, m.DedupKey)
			}
		}
	}
}

func TestCommentedRefusesBadIDs(t *testing.T) {
	c := blogComment()
	c.PostAuthorID = "a.b"
	if _, err := domain.Commented(c); !errors.Is(err, contracts.ErrValidation) {
		t.Errorf("post author id %q: %v, want validation", c.PostAuthorID, err)
	}
	c = blogComment()
	c.ParentID = "c-1" // a reply without its parent's author
	if _, err := domain.Commented(c); !errors.Is(err, contracts.ErrValidation) {
		t.Errorf("reply without parent author: %v, want validation", err)
	}
}

func TestPopularityKeysByPostAndThreshold(t *testing.T) {
	p := domain.Popular{PostID: "p-1", AuthorID: "w-1", Title: strings.Repeat("가", domain.PopularTitleRunes+50), Threshold: 1}
	n, err := domain.Popularity(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Notifications) != 1 || len(n.Mails) != 1 {
		t.Fatalf("%d notifications, %d mails, want one each", len(n.Notifications), len(n.Mails))
	}
	d, m := n.Notifications[0], n.Mails[0]
	if d.UserID != "w-1" || m.UserID != "w-1" || d.DedupKey != "post.popular:p-1:1" || m.DedupKey != d.DedupKey {
		t.Errorf("draft %+v, mail %+v", d, m)
	}
	if !strings.HasSuffix(d.Body, "…\" has reached 1 view.") || strings.Count(d.Body, "가") != domain.PopularTitleRunes {
		t.Errorf("body of a long title at one view: %q", d.Body)
	}
	p.Threshold = 50
	if n2, _ := domain.Popularity(p); n2.Notifications[0].DedupKey == d.DedupKey {
		t.Errorf("thresholds 1 and 50 share the key %q", d.DedupKey)
	}
}

func TestPopularityRefusesBadInput(t *testing.T) {
	for _, p := range []domain.Popular{
		{PostID: "p.1", AuthorID: "w-1", Threshold: 5},
		{PostID: "p-1", AuthorID: "w *", Threshold: 5},
		{PostID: "p-1", AuthorID: "", Threshold: 5},
		{PostID: "p-1", AuthorID: "w-1", Threshold: 0},
	} {
		if _, err := domain.Popularity(p); !errors.Is(err, contracts.ErrValidation) {
			t.Errorf("%+v: %v, want a validation error", p, err)
		}
	}
}
