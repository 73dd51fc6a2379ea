package notify_test

import (
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// Fifty events for one user, handled concurrently by the consumer, give that user the
// sequences 1..50: no gap, no repeat.
func TestConcurrentEventsGiveGaplessSeqs(t *testing.T) {
	const n = 50
	f := start(t, withSetting("CONSUMER_CONCURRENCY", "8"))
	consumer := f.consumers(1)[0]
	for range n {
		d := terminal("p-1", consumer, authntest.Seller(), contracts.SubActive)
		emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	}
	items := f.waitNotifications(consumer, n)
	for i, it := range items {
		if it.Seq != uint64(i+1) {
			t.Fatalf("item %d has seq %d", i, it.Seq)
		}
	}
	if got := f.count(`SELECT last_seq FROM user_seq WHERE user_id = $1`, consumer.UserID); got != n {
		t.Fatalf("last_seq %d, want %d", got, n)
	}
}
