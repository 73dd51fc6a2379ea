package log_test

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/log/adapters"
)

// Concurrent duplicate views count once per visitor: 8 visitors each send the same view 6
// times at once (48 calls at once), one signed-in reader 6 times, with and without a visitor
// id of its own; exactly 9 views count, and every call answers.
func TestConcurrentDuplicateViewsCountOnce(t *testing.T) {
	h := newHarness(t, nil)
	post := h.publish("author-1", "Hello")
	reader := authntest.Consumer()
	const visitors, copies = 8, 6
	var counted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, visitors*copies+copies)
	for v := range visitors {
		for range copies {
			wg.Go(func() {
				r, err := h.view(post, visitor(v), "")
				if err != nil {
					errs <- err
				} else if r.Counted {
					counted.Add(1)
				}
			})
		}
	}
	for i := range copies {
		wg.Go(func() {
			req := contracts.RecordViewRequest{PostID: post}
			if i%2 == 0 {
				req.VisitorID = visitor(100 + i) // ignored: the reader is signed in
			}
			r, err := h.log.RecordView(h.As(ctxT(t), reader), req)
			if err != nil {
				errs <- err
			} else if r.Counted {
				counted.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("record_view: %v", err)
	}
	if counted.Load() != visitors+1 {
		t.Fatalf("%d views counted, want %d", counted.Load(), visitors+1)
	}
	st := h.stats(post)
	today := time.Now().UTC().Format(time.DateOnly)
	if st.Views != visitors+1 || len(st.Days) != contracts.LogStatsDays || st.Days[len(st.Days)-1] != (contracts.DayViews{Day: today, Views: visitors + 1}) {
		t.Fatalf("stats: views %d, last day %+v of %d days; want %d today", st.Views, st.Days[len(st.Days)-1], len(st.Days), visitors+1)
	}
	for _, d := range st.Days[:len(st.Days)-1] {
		if d.Views != 0 {
			t.Fatalf("day %s has %d views, want 0", d.Day, d.Views)
		}
	}
	// A later duplicate does not count either and says how many there are.
	r, err := h.view(post, visitor(0), "")
	if err != nil || r.Counted || r.Views != visitors+1 {
		t.Fatalf("duplicate view: %+v, %v; want not counted, %d views", r, err, visitors+1)
	}
	pop, err := h.log.PopularNow(ctxT(t), contracts.PopularNowRequest{})
	if err != nil || len(pop.Items) != 1 || pop.Items[0] != (contracts.PopularPost{PostID: post, AuthorID: "author-1", Title: "Hello", Views: visitors + 1}) {
		t.Fatalf("popular_now: %+v, %v", pop, err)
	}
	t.Logf("%d concurrent calls, %d counted", visitors*copies+copies, counted.Load())
}

// Referrers keep the host alone, lower case, without port; they are ranked by
// views, and views without a referrer count in no host.
func TestReferrersAreNormalisedHosts(t *testing.T) {
	h := newHarness(t, nil)
	post := h.publish("author-1", "Hello")
	refs := []string{
		"https://WWW.Example.com:8443/a/b?q=1#x", "HTTP://www.EXAMPLE.com/", "https://www.example.com.",
		"https://news.ycombinator.com/item?id=1", "https://news.ycombinator.com/", "http://[::1]:8080/x", "",
	}
	for i, ref := range refs {
		if r, err := h.view(post, visitor(i), ref); err != nil || !r.Counted {
			t.Fatalf("view from %q: %+v, %v", ref, r, err)
		}
	}
	st := h.stats(post)
	want := []contracts.ReferrerViews{{Host: "www.example.com", Views: 3}, {Host: "news.ycombinator.com", Views: 2}, {Host: "::1", Views: 1}}
	if st.Views != int64(len(refs)) || len(st.Referrers) != len(want) {
		t.Fatalf("stats: %+v, want %d views and referrers %+v", st, len(refs), want)
	}
	for i, w := range want {
		if st.Referrers[i] != w {
			t.Fatalf("referrer %d: %+v, want %+v (all: %+v)", i, st.Referrers[i], w, st.Referrers)
		}
	}
}

// popular_now ranks the live posts by views in the window, most first, ties by post id, and
// honours the limit.
func TestPopularNowOrdering(t *testing.T) {
	h := newHarness(t, nil)
	views := []int{3, 5, 1, 5}
	ids := make([]string, len(views))
	for i, n := range views {
		ids[i] = h.publish("author-"+string(rune('a'+i)), "Post "+string(rune('A'+i)))
		for v := range n {
			if _, err := h.view(ids[i], visitor(v), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, second := ids[1], ids[3] // both 5: by id
	if second < first {
		first, second = second, first
	}
	want := []string{first, second, ids[0], ids[2]}
	pop, err := h.log.PopularNow(ctxT(t), contracts.PopularNowRequest{})
	if err != nil || len(pop.Items) != len(want) {
		t.Fatalf("popular_now: %+v, %v", pop, err)
	}
	for i, w := range want {
		if pop.Items[i].PostID != w {
			t.Fatalf("rank %d: %s (%d views), want %s; list %+v", i, pop.Items[i].PostID, pop.Items[i].Views, w, pop.Items)
		}
	}
	if hour := time.Now().UTC().Truncate(time.Hour); !pop.Since.Equal(hour.Add(-23*time.Hour)) && !pop.Since.Equal(hour.Add(-22*time.Hour)) {
		t.Fatalf("since %v, want 23 hours before the current hour", pop.Since)
	}
	top2, err := h.log.PopularNow(ctxT(t), contracts.PopularNowRequest{Limit: 2, WindowHours: 1})
	if err != nil || len(top2.Items) != 2 || top2.Items[0].PostID != first || top2.Items[1].PostID != second {
		t.Fatalf("popular_now limit 2: %+v, %v", top2, err)
	}
}

// Bad input gets validation_failed on the field at fault, an unknown post not_found, and
// nothing is logged at ERROR.
func TestBadInput(t *testing.T) {
	h := newHarness(t, nil)
	post := h.publish("author-1", "Hello")
	ok := visitor(1)
	cases := []struct {
		name  string
		req   contracts.RecordViewRequest
		field string
	}{
		{"empty post id", contracts.RecordViewRequest{VisitorID: ok}, "post_id"},
		{"post id with a dot", contracts.RecordViewRequest{PostID: "a.b", VisitorID: ok}, "post_id"},
		{"post id wildcard", contracts.RecordViewRequest{PostID: "*", VisitorID: ok}, "post_id"},
		{"post id full wildcard", contracts.RecordViewRequest{PostID: ">", VisitorID: ok}, "post_id"},
		{"post id with a space", contracts.RecordViewRequest{PostID: "my post", VisitorID: ok}, "post_id"},
		{"anonymous without visitor", contracts.RecordViewRequest{PostID: post}, "visitor_id"},
		{"visitor too short", contracts.RecordViewRequest{PostID: post, VisitorID: "abc"}, "visitor_id"},
		{"visitor too long", contracts.RecordViewRequest{PostID: post, VisitorID: strings.Repeat("a", contracts.MaxVisitorIDLen+1)}, "visitor_id"},
		{"visitor with a dot", contracts.RecordViewRequest{PostID: post, VisitorID: "visitor.0123456789abcdef"}, "visitor_id"},
		{"visitor with a slash", contracts.RecordViewRequest{PostID: post, VisitorID: "visitor/0123456789abcdef"}, "visitor_id"},
		{"visitor in Korean", contracts.RecordViewRequest{PostID: post, VisitorID: "방문자방문자방문자방문자"}, "visitor_id"},
		{"referrer javascript", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "javascript:alert(1)"}, "referrer"},
		{"referrer ftp", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "ftp://example.com/x"}, "referrer"},
		{"referrer with user info", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://user:pw@example.com/"}, "referrer"},
		{"referrer relative", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "/from/here"}, "referrer"},
		{"referrer without host", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://"}, "referrer"},
		{"referrer host underscore", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://exa_mple.com/"}, "referrer"},
		{"referrer host hyphen", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://-bad.com/"}, "referrer"},
		{"referrer host dots", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://a..b/"}, "referrer"},
		{"referrer unicode host", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://예시.한국/"}, "referrer"},
		{"referrer too long", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://example.com/" + strings.Repeat("x", contracts.MaxReferrerLen)}, "referrer"},
		{"referrer host too long", contracts.RecordViewRequest{PostID: post, VisitorID: ok, Referrer: "https://" + strings.Repeat("a.", 130) + "com/"}, "referrer"},
	}
	for _, c := range cases {
		_, err := h.log.RecordView(ctxT(t), c.req)
		moatest.WantError(t, err, contracts.ErrValidation, c.field, c.name)
	}
	_, err := h.view(uuid.NewString(), ok, "")
	moatest.WantError(t, err, contracts.ErrNotFound, "", "unknown post")
	_, err = h.log.PostStats(ctxT(t), "a.b")
	moatest.WantError(t, err, contracts.ErrValidation, "post_id", "stats of a bad id")
	_, err = h.log.PostStats(ctxT(t), uuid.NewString())
	moatest.WantError(t, err, contracts.ErrNotFound, "", "stats of an unknown post")
	for _, req := range []contracts.PopularNowRequest{{Limit: -1}, {Limit: contracts.LogPopularMax + 1}, {WindowHours: 25}, {WindowHours: -2}} {
		_, err := h.log.PopularNow(ctxT(t), req)
		moatest.WantError(t, err, contracts.ErrValidation, "", "popular_now %+v", req)
	}
	if st := h.stats(post); st.Views != 0 {
		t.Fatalf("bad input counted %d views", st.Views)
	}
	if errs := h.errs.Errors(); len(errs) > 0 {
		t.Fatalf("bad input logged at ERROR: %q", errs)
	}
}

// A post keeps at most adapters.MaxReferrers hosts: views from more count under
// contracts.OtherReferrers, so made-up referrers cannot grow its document without end.
func TestReferrersAreBounded(t *testing.T) {
	h := newHarness(t, nil)
	post := h.publish("author-1", "Hello")
	const extra = 5
	for i := range adapters.MaxReferrers + extra {
		if _, err := h.view(post, visitor(i), "https://site-"+strconv.Itoa(i)+".example/"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.view(post, visitor(-1), "https://site-0.example/again"); err != nil {
		t.Fatal(err)
	}
	st := h.stats(post)
	want := []contracts.ReferrerViews{{Host: contracts.OtherReferrers, Views: extra}, {Host: "site-0.example", Views: 2}}
	if st.Views != adapters.MaxReferrers+extra+1 || len(st.Referrers) != contracts.LogTopReferrers || st.Referrers[0] != want[0] || st.Referrers[1] != want[1] {
		t.Fatalf("stats: %d views, referrers %+v; want %+v first", st.Views, st.Referrers, want)
	}
}

// A post id in upper case names the same post: the log stores ids as the post service writes
// them, lower case, and lower-cases what callers send.
func TestUpperCasePostID(t *testing.T) {
	h := newHarness(t, nil)
	post := h.publish("author-1", "Hello")
	upper := strings.ToUpper(post)
	if r, err := h.view(upper, visitor(1), ""); err != nil || !r.Counted || r.Views != 1 {
		t.Fatalf("view by the upper-case id: %+v, %v; want counted, 1 view", r, err)
	}
	if r, err := h.view(post, visitor(1), ""); err != nil || r.Counted || r.Views != 1 {
		t.Fatalf("the same visitor by the lower-case id: %+v, %v; want not counted again, 1 view", r, err)
	}
	st := h.stats(upper)
	if st.PostID != post || st.Views != 1 {
		t.Fatalf("stats by the upper-case id: %+v, want post %s with 1 view", st, post)
	}
}
