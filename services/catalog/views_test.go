package catalog_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func (h *harness) dbViews(id string) int64 {
	h.t.Helper()
	var n int64
	if err := h.Postgres.QueryRow(h.t.Context(), `SELECT views FROM products WHERE id = $1`, id).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// viewAll runs one view per viewer, all at once, and returns how many were counted.
func viewAll(t *testing.T, h *harness, id string, viewers []string) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counted := 0
	errs := make(chan error, len(viewers))
	start := make(chan struct{})
	for _, v := range viewers {
		wg.Go(func() {
			<-start
			r, err := h.cat.ViewProduct(anon(), id, v)
			if err != nil {
				errs <- err
				return
			}
			if r.Counted {
				mu.Lock()
				counted++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("view: %v", err)
	}
	return counted
}

func TestViewsConcurrentDistinctViewers(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(authntest.Seller(), sampleProduct("Crowded"))
	viewers := make([]string, 100)
	for i := range viewers {
		viewers[i] = uuid.NewString()
	}
	if n := viewAll(t, h, p.ID, viewers); n != 100 {
		t.Fatalf("%d views counted, want 100", n)
	}
	if n := h.dbViews(p.ID); n != 100 {
		t.Fatalf("views = %d after 100 concurrent distinct viewers, want 100 (lost updates)", n)
	}
}

func TestViewsOncePerViewer(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(authntest.Seller(), sampleProduct("Refreshed"))
	same := make([]string, 100)
	for i := range same {
		same[i] = "the-same-visitor"
	}
	if n := viewAll(t, h, p.ID, same); n != 1 {
		t.Fatalf("one viewer 100 times at once: %d counted, want 1", n)
	}
	if n := h.dbViews(p.ID); n != 1 {
		t.Fatalf("views = %d, want 1", n)
	}
	// A signed-in user is a viewer of their own, whatever visitor id is passed along, and a
	// visitor id equal to a user id is a different viewer.
	user := authntest.Consumer()
	for range 3 {
		r, err := h.cat.ViewProduct(h.as(user), p.ID, "the-same-visitor")
		if err != nil {
			t.Fatal(err)
		}
		if r.Views != 2 {
			t.Fatalf("views %d after the user's view(s), want 2", r.Views)
		}
	}
	if r, err := h.cat.ViewProduct(anon(), p.ID, user.UserID); err != nil || !r.Counted || r.Views != 3 {
		t.Fatalf("visitor named like the user: %+v, %v", r, err)
	}
	// A view of a product that does not exist is not_found, every time.
	ghost := uuid.NewString()
	for range 2 {
		_, err := h.cat.ViewProduct(anon(), ghost, "v")
		moatest.WantError(t, err, contracts.ErrNotFound, "")
	}
}

func TestViewsCountAgainAfterTheWindow(t *testing.T) {
	h := newHarness(t, map[string]string{"VIEW_WINDOW": "1s"})
	p := h.create(authntest.Seller(), sampleProduct("Daily"))
	r, err := h.cat.ViewProduct(anon(), p.ID, "visitor")
	if err != nil || !r.Counted {
		t.Fatalf("first view %+v, %v", r, err)
	}
	if r, err := h.cat.ViewProduct(anon(), p.ID, "visitor"); err != nil || r.Counted {
		t.Fatalf("second view inside the window %+v, %v", r, err)
	}
	moatest.Eventually(t, 15*time.Second, func() bool {
		r, err := h.cat.ViewProduct(anon(), p.ID, "visitor")
		return err == nil && r.Counted
	}, "a view after the window counts again")
	if n := h.dbViews(p.ID); n != 2 {
		t.Fatalf("views %d, want 2", n)
	}
}

func TestPopularProducts(t *testing.T) {
	h := newHarness(t, nil)
	seller := authntest.Seller()
	var ids []string
	for i := range 4 {
		ids = append(ids, h.create(seller, sampleProduct(fmt.Sprintf("P%d", i))).ID)
	}
	// ids[2] gets 3 viewers, ids[0] 2, ids[3] 1, ids[1] none.
	for idx, n := range map[int]int{2: 3, 0: 2, 3: 1} {
		for v := range n {
			if _, err := h.cat.ViewProduct(anon(), ids[idx], fmt.Sprint("viewer-", v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	page, err := h.cat.PopularProducts(anon(), contracts.PageRequest{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var views []int64
	for _, it := range page.Items {
		got, views = append(got, it.ID), append(views, it.Views)
	}
	if want := []string{ids[2], ids[0], ids[3]}; fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(views) != "[3 2 1]" || page.NextCursor == "" {
		t.Fatalf("popular %v %v (next %q), want %v [3 2 1]", got, views, page.NextCursor, want)
	}
}
