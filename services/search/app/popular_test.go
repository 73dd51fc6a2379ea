package app_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search/adapters"
	"github.com/moa-run/moa/services/search/app"
	"github.com/moa-run/moa/services/search/domain"
)

// Two instances on one store: each reads its own counts at once (they are added to its
// popular list in memory), the other's within a second (the list's refresh), and none twice
// however reads and batches interleave.
func TestPopularShowsOwnCountsAtOnceAndOthersWithinASecond(t *testing.T) {
	t.Parallel()
	db := moatest.MongoDB(t)
	if err := adapters.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	a, b := app.New(adapters.NewRepository(db)), app.New(adapters.NewRepository(db))
	wantPopular(t, a) // loads a's list
	wantPopular(t, b)

	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{search(t, "e1", "alice", "yoga")}))
	wantPopular(t, a, domain.Popular{Query: "yoga", Count: 1})
	noErrors(t, b.ApplyBatch(t.Context(), []domain.Search{search(t, "e2", "bob", "yoga"), search(t, "e3", "bob", "pilates")}))
	// b's own counts at once; a's yoga only once b's list was refreshed since.
	got, _, err := b.Popular(t.Context(), 0, 0)
	if err != nil || !slices.Contains(got, domain.Popular{Query: "pilates", Count: 1}) ||
		!slices.ContainsFunc(got, func(p domain.Popular) bool { return p.Query == "yoga" && p.Count >= 1 && p.Count <= 2 }) {
		t.Fatalf("b's popular = %+v, %v; want pilates 1 and yoga 1 or 2", got, err)
	}

	start := time.Now()
	want := []domain.Popular{{Query: "yoga", Count: 2}, {Query: "pilates", Count: 1}}
	moatest.Eventually(t, 5*time.Second, func() bool {
		got, _, err := a.Popular(t.Context(), 0, 0)
		return err == nil && slices.Equal(got, want)
	}, "a sees b's counts")
	// The bound the package promises is a second; the margin is for a loaded machine.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a saw b's counts after %v, want about a second at most", d)
	}

	// Readers and batches of a at once: every count lands exactly once in a's list.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := a.Popular(t.Context(), 0, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	const batches = 20
	for i := range batches {
		id := "c" + string(rune('a'+i))
		noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{search(t, id, "carol", "boxing")}))
		time.Sleep(60 * time.Millisecond) // spreads the batches over refreshes; not a wait for a condition
	}
	close(stop)
	wg.Wait()
	wantPopular(t, a, domain.Popular{Query: "boxing", Count: batches}, want[0], want[1])
	moatest.Eventually(t, 5*time.Second, func() bool {
		got, _, err := b.Popular(t.Context(), 0, 0)
		return err == nil && slices.Equal(got, []domain.Popular{{Query: "boxing", Count: batches}, want[0], want[1]})
	}, "b sees a's counts")
}

// counting counts the repository's popular reads.
type counting struct {
	*adapters.Repository
	reads atomic.Int64
}

func (c *counting) PopularMarked(ctx context.Context, since time.Time) (app.PopularRead, error) {
	c.reads.Add(1)
	return c.Repository.PopularMarked(ctx, since)
}

// Popular and suggest are answered from memory: many reads within a refresh interval read the
// store once, and batches in between do not make them read it again.
func TestPopularReadsTheStoreAtMostTwiceASecond(t *testing.T) {
	t.Parallel()
	var repo *counting
	a := newApp(t, func(r *adapters.Repository) app.Repository {
		repo = &counting{Repository: r}
		return repo
	})
	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{search(t, "e1", "alice", "yoga")}))
	start := time.Now()
	for i := range 200 {
		noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{search(t, "p"+strconv.Itoa(i), "bob", "pilates")}))
		if _, _, err := a.Popular(t.Context(), 0, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Suggest(t.Context(), "", "yo", 0); err != nil {
			t.Fatal(err)
		}
	}
	// A refresh starts at most every half second, on a read.
	elapsed := time.Since(start)
	if n, most := repo.reads.Load(), 1+int64(elapsed/(500*time.Millisecond)); n > most {
		t.Fatalf("%d popular reads of the store in %v, want at most %d", n, elapsed, most)
	}
	wantPopular(t, a, domain.Popular{Query: "pilates", Count: 200}, domain.Popular{Query: "yoga", Count: 1})
}

// blocking holds the repository's popular reads until released.
type blocking struct {
	*adapters.Repository
	release chan struct{}
}

func (b *blocking) PopularMarked(ctx context.Context, since time.Time) (app.PopularRead, error) {
	<-b.release
	return b.Repository.PopularMarked(ctx, since)
}

// A caller that stops waiting for the popular list gets a canceled or timed out error with its
// code, and the read it started still fills the list for the next caller.
func TestPopularCallerGivingUpGetsACodedError(t *testing.T) {
	t.Parallel()
	repo := &blocking{release: make(chan struct{})}
	a := newApp(t, func(r *adapters.Repository) app.Repository { repo.Repository = r; return repo })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := a.Popular(ctx, 0, 0); !errors.Is(err, contracts.ErrCanceled) {
		t.Fatalf("canceled caller: %v, want %v", err, contracts.ErrCanceled)
	}
	short, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := a.Popular(short, 0, 0); !errors.Is(err, contracts.ErrTimeout) {
		t.Fatalf("caller out of time: %v, want %v", err, contracts.ErrTimeout)
	}
	close(repo.release)
	wantPopular(t, a)
}

// slow makes every popular read of the repository take longer than the list's time to live.
type slow struct {
	*adapters.Repository
}

func (s *slow) PopularMarked(ctx context.Context, since time.Time) (app.PopularRead, error) {
	time.Sleep(1200 * time.Millisecond) // the store being slow, longer than popularTTL (a second)
	return s.Repository.PopularMarked(ctx, since)
}

// A store read longer than the list's time to live still answers the readers that waited for
// it: they return the read's result instead of starting another one and waiting again.
func TestPopularSlowReadStillAnswers(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(r *adapters.Repository) app.Repository { return &slow{Repository: r} })
	noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{search(t, "e1", "alice", "yoga")}))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got, _, err := a.Popular(ctx, 0, 0)
	if err != nil || !slices.Equal(got, []domain.Popular{{Query: "yoga", Count: 1}}) {
		t.Fatalf("popular after a slow read = %+v, %v; want yoga 1", got, err)
	}
}

// gated holds the repository's popular reads until released, and says when one is held: before
// the store is read, or after it when readFirst (the read then misses what is stored meanwhile).
type gated struct {
	*adapters.Repository
	readFirst bool
	held      chan struct{}
	release   chan struct{}
}

func (g *gated) PopularMarked(ctx context.Context, since time.Time) (app.PopularRead, error) {
	var read app.PopularRead
	var err error
	if g.readFirst {
		read, err = g.Repository.PopularMarked(ctx, since)
	}
	select {
	case g.held <- struct{}{}:
	default:
	}
	<-g.release
	if !g.readFirst {
		read, err = g.Repository.PopularMarked(ctx, since)
	}
	return read, err
}

// A refresh of the popular list does not hold recording back: batches count while its read is
// blocked, and the list it installs holds each of them exactly once, whether the read saw them
// or not.
func TestPopularRefreshDoesNotBlockRecording(t *testing.T) {
	t.Parallel()
	for _, readFirst := range []bool{false, true} {
		repo := &gated{readFirst: readFirst, held: make(chan struct{}, 1), release: make(chan struct{})}
		a := newApp(t, func(r *adapters.Repository) app.Repository { repo.Repository = r; return repo })
		close(repo.release)
		noErrors(t, a.ApplyBatch(t.Context(), []domain.Search{search(t, "e1", "alice", "yoga")}))
		wantPopular(t, a, domain.Popular{Query: "yoga", Count: 1}) // loads the list
		repo.release = make(chan struct{})
		<-repo.held
		// Past popularTTL the next reader starts a refresh and waits for it.
		time.Sleep(1100 * time.Millisecond) // lets the list age; not a wait for a condition
		read := make(chan error, 1)
		go func() {
			_, _, err := a.Popular(t.Context(), 0, 0)
			read <- err
		}()
		<-repo.held // the refresh is held in the store
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		noErrors(t, a.ApplyBatch(ctx, []domain.Search{search(t, "e2", "bob", "yoga")}))
		noErrors(t, a.ApplyBatch(ctx, []domain.Search{search(t, "e3", "bob", "pilates")}))
		cancel()
		close(repo.release)
		if err := <-read; err != nil {
			t.Fatal(err)
		}
		wantPopular(t, a, domain.Popular{Query: "yoga", Count: 2}, domain.Popular{Query: "pilates", Count: 1})
	}
}
