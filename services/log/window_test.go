package log_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/bus/docinbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/log/adapters"
	"github.com/moa-run/moa/services/log/app"
	"github.com/moa-run/moa/services/log/domain"
)

// clock is the app's time, set by the test: the windows and buckets are about hours and days.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }
func at(s string) time.Time          { t, _ := time.Parse(time.RFC3339Nano, s); return t }
func discard() *slog.Logger          { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (c *clock) add(d time.Duration) { c.set(c.Now().Add(d)) }
func live(ctx context.Context, a *app.App, id string) error {
	ctx = docinbox.WithReceipt(ctx, docinbox.Receipt{Consumer: "test", EventID: "published-" + id})
	return a.ApplyPost(ctx, app.PostChange{PostID: id, AuthorID: "author-" + id[:4], Title: "Post " + id[:4], Live: true})
}

// newApp is the log's app on a fresh database of the embedded store at the clock's time,
// without thresholds (nothing to announce).
func newApp(t *testing.T, c *clock) (*app.App, *adapters.Repository) {
	t.Helper()
	db := moatest.MongoDB(t)
	if err := adapters.Migrate(ctxT(t), db); err != nil {
		t.Fatal(err)
	}
	repo := adapters.NewRepository(db)
	return app.New(repo, adapters.NewOutbox(db, nil, discard()), app.Options{Window: 30 * time.Minute, Now: c.Now, Log: discard()}), repo
}

// A visitor's views count once per fixed window: the last instant of a window and the first
// of the next are two views; the days follow UTC midnight.
func TestWindowBoundary(t *testing.T) {
	c := &clock{now: at("2026-12-06T23:29:59.999Z")}
	a, _ := newApp(t, c)
	post := uuid.NewString()
	if err := live(ctxT(t), a, post); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at      string
		visitor string
		counted bool
	}{
		{"2026-12-06T23:29:59.999Z", "a:v1", true},
		{"2026-12-06T23:00:00Z", "a:v1", false},        // same window, earlier in it
		{"2026-12-06T23:29:59.999Z", "u:reader", true}, // another visitor
		{"2026-12-06T23:30:00Z", "a:v1", true},         // the next window
		{"2026-12-06T23:59:59Z", "a:v1", false},
		{"2026-12-07T00:00:00Z", "a:v1", true}, // the next window and the next day
		{"2026-12-07T00:29:00Z", "u:reader", true},
	}
	for i, s := range steps {
		c.set(at(s.at))
		r, err := a.RecordView(ctxT(t), post, s.visitor, "")
		if err != nil || r.Counted != s.counted {
			t.Fatalf("step %d (%s at %s): %+v, %v; want counted=%v", i, s.visitor, s.at, r, err, s.counted)
		}
	}
	st, err := a.Stats(ctxT(t), post)
	if err != nil {
		t.Fatal(err)
	}
	last := st.Days[len(st.Days)-2:]
	if st.Views != 5 || last[0] != (app.DayViews{Day: "2026-12-06", Views: 3}) || last[1] != (app.DayViews{Day: "2026-12-07", Views: 2}) {
		t.Fatalf("stats: %d views, last days %+v; want 5, 3 on the 6th and 2 on the 7th", st.Views, last)
	}
}

// The popular list slides by hourly buckets: a bucket leaves the window whole, 24 hours after
// it began; window_hours narrows it; posts rank by views in the window, ties by id.
func TestPopularNowSlides(t *testing.T) {
	c := &clock{now: at("2026-12-06T10:15:00Z")}
	a, repo := newApp(t, c)
	ids := []string{"11111111-0000-4000-8000-000000000000", "22222222-0000-4000-8000-000000000000", "33333333-0000-4000-8000-000000000000"}
	for _, id := range ids {
		if err := live(ctxT(t), a, id); err != nil {
			t.Fatal(err)
		}
	}
	views := func(id string, n int) {
		t.Helper()
		for v := range n {
			if _, err := a.RecordView(ctxT(t), id, "a:"+id[:2]+"-"+strconv.Itoa(v)+"-"+c.Now().Format("150405"), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	views(ids[0], 4) // 10:15
	c.set(at("2026-12-07T08:59:59Z"))
	views(ids[1], 3)
	c.set(at("2026-12-07T09:00:00Z"))
	views(ids[2], 3)
	rank := func(hours int) []string {
		t.Helper()
		top, _, err := a.PopularNow(ctxT(t), hours, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, p := range top {
			out = append(out, p.Post.ID[:2]+"="+strconv.FormatInt(p.Views, 10))
		}
		return out
	}
	check := func(now string, hours int, want ...string) {
		t.Helper()
		c.set(at(now))
		got := rank(hours)
		if len(got) != len(want) {
			t.Fatalf("at %s over %dh: %v, want %v", now, hours, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("at %s over %dh: %v, want %v", now, hours, got, want)
			}
		}
	}
	check("2026-12-07T09:59:59Z", 24, "11=4", "22=3", "33=3") // 10:00 yesterday is the oldest bucket
	check("2026-12-07T10:00:00Z", 24, "22=3", "33=3")         // its bucket left the window
	check("2026-12-07T10:00:00Z", 3, "22=3", "33=3")
	check("2026-12-07T10:00:00Z", 2, "33=3") // 08:59:59 is in the third bucket back
	check("2026-12-07T10:00:00Z", 1)
	check("2026-12-07T09:30:00Z", 1, "33=3")
	check("2026-12-08T07:59:59Z", 24, "22=3", "33=3")
	check("2026-12-08T08:00:00Z", 24, "33=3")
	check("2026-12-08T08:59:59Z", 24, "33=3")
	check("2026-12-08T09:00:00Z", 24)
	// The janitor deletes the buckets that left every window and the past dedup windows.
	c.set(at("2026-12-08T08:30:00Z"))
	n, err := a.Expire(ctxT(t))
	if err != nil || n != 2+10 { // buckets of 10:00 on the 6th and 08:00 on the 7th; all 10 visits
		t.Fatalf("expired %d, %v; want 12", n, err)
	}
	if got, _ := repo.Buckets(ctxT(t), []string{domain.Hour(at("2026-12-07T09:00:00Z"))}); got[ids[2]] != 3 {
		t.Fatalf("the bucket in the window was expired: %v", got)
	}
}

// The relay publishes what was stored but not published: here the LOG stream did not exist
// when the threshold was crossed. It publishes each record once, and a record announced twice
// (two crossings) is one record.
func TestOutboxRelayPublishesWhatWasLeft(t *testing.T) {
	n := moatest.NATS(t)
	rt := moatest.Runtime(t, n)
	db := moatest.MongoDB(t)
	if err := adapters.Migrate(ctxT(t), db); err != nil {
		t.Fatal(err)
	}
	ob := adapters.NewOutbox(db, rt, discard())
	p := domain.Post{ID: uuid.NewString(), AuthorID: "author-1", Title: "Hello", Live: true}
	for range 2 {
		if err := ob.Announce(ctxT(t), p, 100); err != nil {
			t.Fatalf("announce with no stream: %v (the record must be stored all the same)", err)
		}
	}
	if k, _ := db.Collection("outbox").CountDocuments(ctxT(t), bson.D{{Key: "sent", Value: false}}); k != 1 {
		t.Fatalf("%d unsent records, want 1", k)
	}
	if err := rt.EnsureStreams(ctxT(t), contracts.StreamLog); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		got, err := ob.Relay(ctxT(t))
		if err != nil || got != want {
			t.Fatalf("relay %d: published %d, %v; want %d", i, got, err, want)
		}
	}
	s, err := rt.JetStream().Stream(ctxT(t), contracts.StreamLog.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t))
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("LOG holds %v messages (%v), want 1", info.State.Msgs, err)
	}
}
