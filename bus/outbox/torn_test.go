package outbox

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/moatest"
)

// The machine dies: the publisher process (its relay holding a batch the stream acknowledged but
// the outbox has not marked) and the nats-server process (sync always) both by SIGKILL, and the
// disk keeps a torn tail: the stream's last block file is cut in the middle of that batch. The
// server must start on that store (dropping the torn records), and the next relay re-drives the
// unmarked rows: the torn-off events are stored again, the ones that survived are dropped by
// the duplicate window, and the stream ends with every outbox event exactly once.
func TestTornBlockAfterServerKillHealedByOutbox(t *testing.T) {
	pgURL, srv := moatest.Postgres(t), moatest.NATSProc(t, moatest.WithSyncAlways())
	pool := newPool(t, pgURL)
	rt := newRuntime(t, srv.Conn(t))

	const point = "relay.after_publish"
	c := spawn(t, "publisher", envPG+"="+pgURL, envNATS+"="+srv.URL(), envCrashAt+"="+point, envCrashAfter+"=5",
		envEvents+"=2000", envPerTx+"=5", envName+"=p")
	c.await("crash "+point, 2*time.Minute)
	c.kill()
	st, err := rt.JetStream().Stream(ctxT(t, 10*time.Second), testStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	committed, stranded := outboxRows(t, pool), unpublished(t, pool)
	inStream := int(info.State.Msgs)
	// Rows marked published are in the stream; the rest of the stream is the batch the relay
	// died holding: acknowledged, not marked.
	held := inStream - (committed - stranded)
	if held < 2 {
		t.Fatalf("the relay held %d acknowledged, unmarked events at the kill: nothing to tear", held)
	}
	blk := lastBlock(t, srv.StoreDir())
	fi, err := os.Stat(blk)
	if err != nil {
		t.Fatal(err)
	}
	// Cut about half the held batch, in the middle of a record: a torn write. Only unmarked
	// events go, so the outbox still has every one of them.
	per := fi.Size() / int64(inStream)
	cut := per*int64(held/2) + per/3
	if err := os.Truncate(blk, fi.Size()-cut); err != nil {
		t.Fatal(err)
	}

	srv.Start()
	var afterTear int
	moatest.WaitFor(t, time.Minute, func() error {
		info, err := st.Info(ctxT(t, 10*time.Second))
		if err == nil {
			afterTear = int(info.State.Msgs)
		}
		return err
	})
	if afterTear >= inStream {
		t.Fatalf("the stream has %d events after the tear, %d before: the truncation lost nothing", afterTear, inStream)
	}

	r := startRelay(t, pool, rt, RelayOptions{Name: "after-tear"})
	moatest.Eventually(t, time.Minute, func() bool { return unpublished(t, pool) == 0 }, "the outbox drained after the restart")
	streamIDs := readStream(t, rt.JetStream())
	t.Logf("committed=%d unmarked at kill=%d held (acked, unmarked)=%d in stream at kill=%d block %s cut by %d of %d bytes "+
		"in stream after restart=%d re-published=%d dropped as duplicates=%d stream at end=%d",
		committed, stranded, held, inStream, filepath.Base(blk), cut, fi.Size(), afterTear, r.Published(), r.Duplicates(), len(streamIDs))

	outboxIDs := outboxEventIDs(t, pool)
	sort.Strings(streamIDs)
	if !slices.Equal(streamIDs, outboxIDs) {
		t.Fatalf("stream has %d events (%d distinct), outbox %d: want the same ids once each",
			len(streamIDs), len(slices.Compact(slices.Clone(streamIDs))), len(outboxIDs))
	}
	if r.Duplicates() == 0 {
		t.Fatal("no re-published event was dropped as a duplicate: the surviving part of the held batch was not re-driven")
	}
}

// lastBlock is the stream's highest-numbered message block file.
func lastBlock(t *testing.T, storeDir string) string {
	t.Helper()
	blks, err := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", testStream.Name, "msgs", "*.blk"))
	if err != nil || len(blks) == 0 {
		t.Fatalf("no block files under %s (%v)", storeDir, err)
	}
	num := func(p string) int {
		var n int
		for _, ch := range filepath.Base(p) {
			if ch < '0' || ch > '9' {
				break
			}
			n = n*10 + int(ch-'0')
		}
		return n
	}
	slices.SortFunc(blks, func(a, b string) int { return num(a) - num(b) })
	return blks[len(blks)-1]
}

// outboxEventIDs is every event id in the outbox, sorted.
func outboxEventIDs(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctxT(t, 30*time.Second), `SELECT event_id FROM moa_outbox ORDER BY event_id COLLATE "C"`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
