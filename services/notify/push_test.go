package notify_test

import (
	"encoding/json"
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// Each stored notification is pushed on its user's push subject with its sequence, after it
// committed: what the push says is what since returns.
func TestNotificationIsPushedWithItsSeq(t *testing.T) {
	f := start(t)
	consumer, seller := f.consumers(1)[0], authntest.Seller()
	cp, sp := f.Pushes(t, consumer.UserID), f.Pushes(t, seller.UserID)
	product := f.product(seller, "Family plan")

	for want := uint64(1); want <= 2; want++ {
		d := terminal(product, consumer, seller, contracts.SubActive)
		emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
		p := cp.Next(t)
		if p.Topic != contracts.PushTopicNotification || p.Seq != want {
			t.Fatalf("push %d to the consumer: topic %q seq %d", want, p.Topic, p.Seq)
		}
		var n contracts.Notification
		if err := json.Unmarshal(p.Body, &n); err != nil {
			t.Fatalf("push body is not a Notification: %v", err)
		}
		// Committed before it was pushed: since finds it at once.
		r := f.since(consumer, want-1)
		if !r.Recoverable || len(r.Items) != 1 || r.Items[0].Seq != want || r.Items[0].Title != n.Title || !r.Items[0].CreatedAt.Equal(n.CreatedAt) {
			t.Fatalf("since %d after push %+v: %+v", want-1, n, r)
		}
		if s := sp.Next(t); s.Seq != want {
			t.Fatalf("push %d to the seller has seq %d", want, s.Seq)
		}
	}
}
