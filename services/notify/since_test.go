package notify_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// activations gives consumer n notifications (one activated subscription each, from new
// sellers) and waits for them.
func (f *fixture) activations(consumer contracts.Principal, n int) {
	f.t.Helper()
	for range n {
		seller := authntest.Seller()
		d := terminal("p-1", consumer, seller, contracts.SubActive)
		emit(f, "subscription", contracts.SubscriptionActivated, d.SubscriptionID, d)
	}
}

// since answers every notification after the client's sequence while they are all kept, and
// says "not recoverable" (with the latest sequence to continue from) once some are pruned, or
// when the client claims a sequence the service never gave.
func TestSinceIsGaplessOrNotRecoverable(t *testing.T) {
	f := start(t, withSetting("KEEP", "5"))
	u := f.consumers(1)[0]
	if r := f.since(u, 0); !r.Recoverable || r.LastSeq != 0 || len(r.Items) != 0 || r.Items == nil {
		t.Fatalf("a new user: %+v (items must be [] not null)", r)
	}
	f.activations(u, 8)
	var r contracts.NotifySinceResp
	moatest.WaitFor(t, 20*time.Second, func() error {
		if r = f.since(u, 7); r.LastSeq < 8 {
			return fmt.Errorf("last seq %d, want 8", r.LastSeq)
		}
		return nil
	})
	if !r.Recoverable || len(r.Items) != 1 || r.Items[0].Seq != 8 {
		t.Fatalf("since 7: %+v", r)
	}

	for _, c := range []struct {
		since       uint64
		recoverable bool
		first, n    uint64
	}{
		{0, false, 0, 0}, // 1..3 pruned (KEEP 5)
		{2, false, 0, 0}, // 3 is gone
		{3, true, 4, 5},  // 4..8 kept
		{6, true, 7, 2},
		{8, true, 0, 0},  // up to date
		{9, false, 0, 0}, // the client is ahead: it must reload
	} {
		r := f.since(u, c.since)
		if r.Recoverable != c.recoverable || r.LastSeq != 8 || uint64(len(r.Items)) != c.n {
			t.Errorf("since %d: recoverable %v, last %d, %d items; want %v, 8, %d", c.since, r.Recoverable, r.LastSeq, len(r.Items), c.recoverable, c.n)
			continue
		}
		for i, it := range r.Items {
			if it.Seq != c.first+uint64(i) {
				t.Errorf("since %d: item %d has seq %d, want %d", c.since, i, it.Seq, c.first+uint64(i))
			}
		}
	}
}

// list pages newest first with read state; mark_read and unread_count agree with it.
func TestListMarkReadUnread(t *testing.T) {
	f := start(t)
	u := f.consumers(1)[0]
	other := f.consumers(1)[0]
	f.activations(u, 5)
	f.activations(other, 1)
	f.waitNotifications(u, 5)
	ctx := f.as(u)

	page, err := f.notify.List(ctx, contracts.NotifyListReq{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Items[0].Seq != 5 || page.Items[1].Seq != 4 || page.NextBefore != 4 || page.LastSeq != 5 {
		t.Fatalf("first page: %+v", page)
	}
	page, err = f.notify.List(ctx, contracts.NotifyListReq{Limit: 3, Before: page.NextBefore})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 || page.Items[0].Seq != 3 || page.Items[2].Seq != 1 || page.NextBefore != 0 {
		t.Fatalf("last page: %+v", page)
	}

	un, err := f.notify.MarkRead(ctx, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if un.Unread != 2 || un.LastSeq != 5 {
		t.Fatalf("after marking 1, 2 and 5 read: %+v", un)
	}
	unread, err := f.notify.List(ctx, contracts.NotifyListReq{UnreadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(unread.Items) != 2 || unread.Items[0].Seq != 4 || unread.Items[1].Seq != 3 || unread.Items[0].Read {
		t.Fatalf("unread only: %+v", unread)
	}
	all, err := f.notify.List(ctx, contracts.NotifyListReq{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all.Items {
		if want := it.Seq != 3 && it.Seq != 4; it.Read != want {
			t.Errorf("seq %d read %v, want %v", it.Seq, it.Read, want)
		}
	}
	// Marking reaches only the caller's own notifications.
	if n, err := f.notify.UnreadCount(f.as(other)); err != nil || n.Unread != 1 {
		t.Fatalf("the other user's unread: %+v, %v", n, err)
	}
	// The wire form: read sits next to the notification's own fields.
	raw, _ := json.Marshal(all.Items[0])
	var flat map[string]any
	_ = json.Unmarshal(raw, &flat)
	if _, ok := flat["seq"]; !ok || flat["read"] == nil {
		t.Errorf("list item JSON: %s", raw)
	}
}

// Bad requests get stable codes; no request reaches another user's notifications.
func TestNotifyEndpointsRejectBadRequests(t *testing.T) {
	f := start(t)
	u := authntest.Consumer()
	ctx := f.as(u)
	_, err := f.notify.Since(t.Context(), 0)
	moatest.WantError(t, err, contracts.ErrUnauthenticated, "", "since without a token")
	_, err = f.notify.Since(bus.WithAuthToken(t.Context(), f.Issuer.Forged(u)), 0)
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "", "since with a forged token")
	_, err = f.Runtime.Client().Invoke(ctx, &bus.Request{Endpoint: contracts.NotifySince.Info(), Data: []byte(`{"since":0,"user_id":"someone-else"}`)})
	moatest.WantError(t, err, contracts.ErrUnknownField, "user_id", "since naming another user")
	_, err = f.notify.List(ctx, contracts.NotifyListReq{Limit: contracts.NotifyListMax + 1})
	moatest.WantError(t, err, contracts.ErrValidation, "limit", "list with a huge limit")
	_, err = f.notify.MarkRead(ctx, 0)
	moatest.WantError(t, err, contracts.ErrValidation, "up_to", "mark_read with nothing to mark")
	_, err = f.notify.MarkRead(ctx, 0, 3, 0)
	moatest.WantError(t, err, contracts.ErrValidation, "seqs", "mark_read with seq 0")
	_, err = f.notify.UnreadCount(bus.WithAuthToken(t.Context(), f.Issuer.Expired(u)))
	moatest.WantError(t, err, contracts.ErrTokenExpired, "", "expired token")
	_, err = f.notify.DevMailbox(f.as(authntest.Operator()), contracts.DevMailboxReq{})
	moatest.WantError(t, err, contracts.ErrForbidden, "", "dev mailbox with SMTP configured")
}
