package outbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/moatest"
)

// 32 writers commit outbox rows, in transactions that stay open for random short times so ids
// commit out of order, while their connections are terminated at random (and now and then the
// relay's). Every row that committed is published, exactly once; nothing else is.
func TestConcurrentWritersWithTerminatedConnectionsSkipNoRow(t *testing.T) {
	pgURL, srv := moatest.Postgres(t), moatest.NATS(t)
	admin := newPool(t, pgURL)
	rt := newRuntime(t, srv.Conn(t))
	writers := appPool(t, pgURL, "moa-writer", 32)
	relayPool := appPool(t, pgURL, "moa-relay", 4)
	startRelay(t, relayPool, rt, RelayOptions{Name: "r", PollInterval: 50 * time.Millisecond, BatchSize: 100})

	const n, txPerWriter = 32, 60
	var mu sync.Mutex
	var acked []string
	var okTx, failedTx, terminated atomic.Int64
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txPerWriter {
				var ids []string
				err := Transact(ctxT(t, 30*time.Second), writers, func(ctx context.Context, tx pgx.Tx) error {
					for k := range 1 + rand.IntN(3) {
						env, err := Emit(ctx, tx, "w", evHappened, fmt.Sprintf("w%d", w), happened{N: i*10 + k})
						if err != nil {
							return err
						}
						ids = append(ids, env.ID)
					}
					// Hold the transaction (and its ids) open while others commit.
					_, err := tx.Exec(ctx, `SELECT pg_sleep($1)`, rand.Float64()*0.01)
					return err
				})
				if err != nil {
					failedTx.Add(1)
					continue
				}
				okTx.Add(1)
				mu.Lock()
				acked = append(acked, ids...)
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		tick := time.NewTicker(15 * time.Millisecond)
		defer tick.Stop()
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			app := "moa-writer"
			if round%20 == 19 {
				app = "moa-relay"
			}
			var k int64
			err := admin.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name = $1 AND pid <> pg_backend_pid() ORDER BY random() LIMIT 3) AS killed`, app).Scan(&k)
			if err == nil {
				terminated.Add(k)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-killerDone

	moatest.Eventually(t, 2*time.Minute, func() bool { return unpublished(t, admin) == 0 }, "the outbox drained")
	var committed []string
	rows, err := admin.Query(ctxT(t, 30*time.Second), `SELECT event_id FROM moa_outbox`)
	if err != nil {
		t.Fatal(err)
	}
	committed, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	inDB := map[string]bool{}
	for _, id := range committed {
		inDB[id] = true
	}
	stream := readStream(t, rt.JetStream())
	inStream := map[string]int{}
	for _, id := range stream {
		inStream[id]++
	}
	skipped, extra, twice, lostAcked := 0, 0, 0, 0
	for id := range inDB {
		if inStream[id] == 0 {
			skipped++
		}
	}
	for id, c := range inStream {
		if !inDB[id] {
			extra++
		}
		if c > 1 {
			twice++
		}
	}
	for _, id := range acked {
		if !inDB[id] {
			lostAcked++
		}
	}
	t.Logf("writers=%d transactions ok=%d failed=%d connections terminated=%d; events acknowledged=%d committed=%d published=%d skipped=%d extra=%d twice=%d lost=%d",
		n, okTx.Load(), failedTx.Load(), terminated.Load(), len(acked), len(committed), len(stream), skipped, extra, twice, lostAcked+skipped)
	if terminated.Load() == 0 || failedTx.Load() == 0 {
		t.Fatal("no connection was terminated under a writer: the test did not test anything")
	}
	if skipped != 0 || extra != 0 || twice != 0 || lostAcked != 0 {
		t.Fatal("the stream does not hold exactly the committed rows")
	}
}

// appPool is a pool whose connections carry application_name, so the test can find and
// terminate them.
func appPool(t *testing.T, url, app string, conns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(ctxT(t, time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
