package adapters_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/notify/adapters"
	"github.com/moa-run/moa/services/notify/domain"
)

func TestMain(m *testing.M) { moatest.Main(m) }

func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(t.Context(), moatest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := adapters.Migrate(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := outbox.Migrate(t.Context(), p); err != nil { // the inbox, which retention prunes too
		t.Fatal(err)
	}
	return p
}

// appendOne appends d in a transaction of its own, as one inbox transaction would.
func appendOne(ctx context.Context, p *pgxpool.Pool, keep int, d domain.Draft) (n domain.Notification, created bool, err error) {
	err = pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		n, created, err = adapters.NewWriter(tx, keep).Append(ctx, d)
		return err
	})
	return n, created, err
}

// Fifty transactions appending to one user at once get the sequences 1..50.
func TestConcurrentAppendsAreGapless(t *testing.T) {
	p := pool(t)
	const n = 50
	seqs := make([]int, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			got, created, err := appendOne(t.Context(), p, 0, domain.Draft{UserID: "u-1", Kind: "k", Title: "t", Body: "b", DedupKey: fmt.Sprint("event-", i)})
			if err != nil || !created {
				errs <- fmt.Errorf("append %d: created %v, %v", i, created, err)
				return
			}
			seqs[i] = int(got.Seq)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Ints(seqs)
	for i, s := range seqs {
		if s != i+1 {
			t.Fatalf("sorted seqs %v are not 1..%d", seqs, n)
		}
	}
}

// Racing appends of one dedup key store it once and burn no sequence: the next notification
// gets 2. A loser either sees the duplicate or fails (its transaction, increment included,
// rolls back, and the inbox retries it).
func TestRacingDuplicatesTakeNoSequence(t *testing.T) {
	p := pool(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 10 {
		wg.Go(func() {
			_, c, err := appendOne(t.Context(), p, 0, domain.Draft{UserID: "u-1", Kind: "k", Title: "t", Body: "b", DedupKey: "same"})
			if err == nil && c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d appends of one dedup key created a notification, want 1", created)
	}
	n, c, err := appendOne(t.Context(), p, 0, domain.Draft{UserID: "u-1", Kind: "k", Title: "t", Body: "b", DedupKey: "next"})
	if err != nil || !c || n.Seq != 2 {
		t.Fatalf("next append: seq %d created %v err %v; want seq 2", n.Seq, c, err)
	}
}

// Keeping the last N prunes the oldest only, so what is kept is a contiguous run; age-based
// retention does the same per user.
func TestRetentionKeepsAContiguousRun(t *testing.T) {
	p := pool(t)
	for i := range 7 {
		if _, _, err := appendOne(t.Context(), p, 3, domain.Draft{UserID: "u-1", Kind: "k", Title: "t", Body: "b", DedupKey: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var lo, hi, count int
	if err := p.QueryRow(t.Context(), `SELECT min(seq), max(seq), count(*) FROM notifications WHERE user_id = 'u-1'`).Scan(&lo, &hi, &count); err != nil {
		t.Fatal(err)
	}
	if lo != 5 || hi != 7 || count != 3 {
		t.Fatalf("kept %d..%d (%d rows), want 5..7", lo, hi, count)
	}
	// Seq 6 looks older than 5 (clocks of two transactions): age retention must still not
	// leave 5 alone behind a hole.
	if _, err := p.Exec(t.Context(), `UPDATE notifications SET created_at = now() - interval '40 days' WHERE user_id = 'u-1' AND seq = 6`); err != nil {
		t.Fatal(err)
	}
	const day = 24 * time.Hour
	if err := adapters.Prune(t.Context(), p, 30*day, 30*day, 100*day); err != nil {
		t.Fatal(err)
	}
	if err := p.QueryRow(t.Context(), `SELECT min(seq), max(seq), count(*) FROM notifications WHERE user_id = 'u-1'`).Scan(&lo, &hi, &count); err != nil {
		t.Fatal(err)
	}
	if lo != 7 || hi != 7 || count != 1 {
		t.Fatalf("after age retention kept %d..%d (%d rows), want 7..7", lo, hi, count)
	}
}
