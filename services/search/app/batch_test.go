package app_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search/adapters"
	"github.com/moa-run/moa/services/search/app"
	"github.com/moa-run/moa/services/search/domain"
)

// newApp returns the use cases over a fresh migrated database of the embedded store, through
// repo's wrapper when one is given.
func newApp(t *testing.T, wrap func(*adapters.Repository) app.Repository) *app.App {
	t.Helper()
	db := moatest.MongoDB(t)
	if err := adapters.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	repo := adapters.NewRepository(db)
	if wrap == nil {
		return app.New(repo)
	}
	return app.New(wrap(repo))
}

func search(t *testing.T, id, user, query string) domain.Search {
	t.Helper()
	now := time.Now()
	s, err := domain.NewSearch(id, user, query, now, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantPopular(t *testing.T, a *app.App, want ...domain.Popular) {
	t.Helper()
	got, _, err := a.Popular(t.Context(), 0, 0)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("popular = %+v, %v; want %+v", got, err, want)
	}
}

func wantRecent(t *testing.T, a *app.App, user string, want ...string) {
	t.Helper()
	got, err := a.Recent(t.Context(), user, 0)
	if err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, r := range got {
		qs = append(qs, r.Query)
	}
	if !slices.Equal(qs, want) {
		t.Fatalf("recent of %s = %q, want %q", user, qs, want)
	}
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("search %d of the batch: %v", i, err)
		}
	}
}

func TestDuplicatesInOneBatchCountOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	e1 := search(t, "event-1", "alice", "yoga")
	e2 := search(t, "event-2", "bob", "yoga")
	// The same event three times in one batch (redeliveries racing the original): every caller
	// is answered, and it counts once.
	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{e1, e1, e2, e1}))
	wantPopular(t, a, domain.Popular{Query: "yoga", Count: 2})
	wantRecent(t, a, "alice", "yoga")
	wantRecent(t, a, "bob", "yoga")

	// Again in a later batch, next to a new search: the duplicate is recognised as applied.
	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{e1, search(t, "event-3", "carol", "yoga"), e1}))
	wantPopular(t, a, domain.Popular{Query: "yoga", Count: 3})
	wantRecent(t, a, "carol", "yoga")

	// A duplicate the user deleted since does not come back.
	if ok, err := a.DeleteRecent(t.Context(), "alice", "yoga"); err != nil || !ok {
		t.Fatalf("DeleteRecent = %v, %v", ok, err)
	}
	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{e1}))
	wantRecent(t, a, "alice")
	wantPopular(t, a, domain.Popular{Query: "yoga", Count: 3})
}

// failing fails one step of the repository, before or after the real step ran (a reply lost
// after the write), for the first n calls: the crash points of a batch.
type failing struct {
	*adapters.Repository
	step  string
	after bool
	n     int
}

var errInjected = errors.New("injected store failure")

func (f *failing) fail(step string, run func() error) error {
	if f.step != step || f.n == 0 {
		return run()
	}
	f.n--
	if f.after {
		if err := run(); err != nil {
			return err
		}
	}
	return errInjected
}

func (f *failing) Journal(ctx context.Context, epoch, batch string, ss []domain.Search) ([]app.Journaled, error) {
	var js []app.Journaled
	err := f.fail("journal", func() (err error) {
		js, err = f.Repository.Journal(ctx, epoch, batch, ss)
		return err
	})
	return js, err
}

func (f *failing) Adopt(ctx context.Context, epoch, batch string, left []app.Journaled) error {
	return f.fail("adopt", func() error { return f.Repository.Adopt(ctx, epoch, batch, left) })
}

func (f *failing) AddPopular(ctx context.Context, epoch, batch string, counts []app.Count) error {
	return f.fail("popular", func() error { return f.Repository.AddPopular(ctx, epoch, batch, counts) })
}

func (f *failing) TouchRecent(ctx context.Context, byUser map[string][]domain.Recent, keep int) (map[string]error, error) {
	var refused map[string]error
	err := f.fail("recent", func() (err error) {
		refused, err = f.Repository.TouchRecent(ctx, byUser, keep)
		return err
	})
	return refused, err
}

func (f *failing) Complete(ctx context.Context, batch string, at time.Time) error {
	return f.fail("complete", func() error { return f.Repository.Complete(ctx, batch, at) })
}

// A batch that fails at any step leaves its searches to their redeliveries, which apply each
// exactly once: a count that made it in is not added again, one that did not is added, also
// when the redelivery's own batch fails too (a leftover adopted by a batch that fails).
func TestAFailedBatchIsCompletedByRedeliveriesCountingOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		step  string
		after bool
		n     int
	}{
		{"journal", false, 1}, {"journal", true, 1},
		{"popular", false, 1}, {"popular", true, 1},
		{"recent", false, 1}, {"recent", true, 1},
		{"complete", false, 1}, {"complete", true, 1},
		{"popular", true, 2}, {"recent", false, 2}, {"complete", false, 2},
		{"adopt", false, 1}, {"adopt", true, 1},
	} {
		name := tc.step
		if tc.after {
			name += " after the write"
		}
		t.Run(name+" "+string(rune('0'+tc.n))+"x", func(t *testing.T) {
			t.Parallel()
			f := &failing{step: tc.step, after: tc.after, n: tc.n}
			a := newApp(t, func(r *adapters.Repository) app.Repository { f.Repository = r; return f })
			e1, e2 := search(t, "event-1", "alice", "yoga"), search(t, "event-2", "bob", "pilates")
			// adopt runs only for leftovers: a first failure makes some.
			if tc.step == "adopt" {
				f.step, f.n = "complete", 1
			}
			if errs := a.ApplyBatch(t.Context(), []domain.Search{e1, e2}); !errors.Is(errs[0], errInjected) {
				t.Fatalf("first batch: %v, want the injected failure", errs)
			}
			if tc.step == "adopt" {
				f.step, f.n = "adopt", tc.n
			}
			for attempt := 0; ; attempt++ {
				errs := a.ApplyBatch(t.Context(), []domain.Search{e1, e2, search(t, "event-3", "carol", "yoga")})
				if errs[0] == nil {
					break
				}
				if !errors.Is(errs[0], errInjected) || attempt > tc.n {
					t.Fatalf("redelivery %d: %v", attempt, errs)
				}
			}
			noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{e2, e1}))
			wantPopular(t, a, domain.Popular{Query: "yoga", Count: 2}, domain.Popular{Query: "pilates", Count: 1})
			wantRecent(t, a, "alice", "yoga")
			wantRecent(t, a, "bob", "pilates")
		})
	}
}

// refusing refuses the history of one user, as the store does past its size limit.
type refusing struct {
	*adapters.Repository
	user string
}

func (r *refusing) TouchRecent(ctx context.Context, byUser map[string][]domain.Recent, keep int) (map[string]error, error) {
	others := maps.Clone(byUser)
	delete(others, r.user)
	refused, err := r.Repository.TouchRecent(ctx, others, keep)
	if err != nil || byUser[r.user] == nil {
		return refused, err
	}
	return map[string]error{r.user: contracts.ErrInternal.Msg("history shard full")}, nil
}

// A user whose history the store refuses fails only their searches of the batch; the others
// succeed, and the refused search, redelivered once the store takes it, is counted once.
func TestARefusedHistoryFailsOnlyItsSearches(t *testing.T) {
	t.Parallel()
	repo := &refusing{user: "mallory"}
	a := newApp(t, func(r *adapters.Repository) app.Repository { repo.Repository = r; return repo })
	m := search(t, "e2", "mallory", "yoga")
	errs := a.ApplyBatch(t.Context(), []domain.Search{search(t, "e1", "alice", "yoga"), m, search(t, "e3", "bob", "judo")})
	if errs[0] != nil || !errors.Is(errs[1], contracts.ErrInternal) || errs[2] != nil {
		t.Fatalf("batch outcomes = %v, want only mallory's search failed", errs)
	}
	// The next batch goes on; mallory's redelivery, once the store takes it, is not counted again.
	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{search(t, "e4", "bob", "judo")}))
	repo.user = ""
	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{m}))
	wantPopular(t, a, domain.Popular{Query: "judo", Count: 2}, domain.Popular{Query: "yoga", Count: 2})
	for _, u := range []string{"alice", "mallory", "bob"} {
		if got, err := a.Recent(t.Context(), u, 10); err != nil || len(got) == 0 {
			t.Fatalf("recent of %s = %+v, %v; want a history", u, got, err)
		}
	}
}
