package docstore_test

// Tests and a benchmark run on both backends side by side, so the choice of
// the default rests on figures measured in the same run. They live in the
// external test package because the PostgreSQL backend needs a server, and
// moatest (which imports docstore) starts one.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/internal/pglocal"
	"github.com/moa-run/moa/moatest"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		runChild() // a kill -9 test's writer, not the tests
	}
	moatest.Main(m)
}

// backend is where a store of one kind keeps its data: a directory or a
// PostgreSQL database.
type backend struct {
	name string
	cfg  docstore.Config
}

// backends returns one config per backend, the PostgreSQL one on a fresh
// database of moatest's server.
func backends(t testing.TB) []backend {
	return []backend{
		{docstore.BackendSQLite, docstore.Config{Backend: docstore.BackendSQLite, Dir: t.TempDir()}},
		{docstore.BackendPostgreSQL, docstore.Config{Backend: docstore.BackendPostgreSQL, PostgreSQLURL: moatest.Postgres(t)}},
	}
}

func start(t testing.TB, cfg docstore.Config) *docstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := docstore.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func connect(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}

func TestPostgreSQLBackendCRUD(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := backends(t)[1]
	coll := connect(t, start(t, b.cfg).URI()).Database("d").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate _id: %v, want a duplicate key error", err)
	}
	var got struct{ N int }
	err = coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: "a"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 2}}}, {Key: "$max", Value: bson.D{{Key: "m", Value: 7}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
	if err != nil || got.N != 3 {
		t.Fatalf("after $inc: %+v, %v", got, err)
	}
}

func TestStartRejectsBadBackendConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []docstore.Config{
		{Backend: "mysql", Dir: t.TempDir()},
		{Backend: docstore.BackendPostgreSQL},
		{Backend: docstore.BackendSQLite},
	} {
		if s, err := docstore.Start(t.Context(), cfg); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		} else if !strings.HasPrefix(err.Error(), "docstore: ") {
			t.Errorf("Start(%+v): %v, want a docstore error", cfg, err)
		}
	}
}

// incRace runs workers goroutines, each doing per $inc of one field of one
// document (updateOne, or findOneAndUpdate), and returns the final count;
// 0 lost updates means workers*per.
func incRace(ctx context.Context, coll *mongo.Collection, workers, per int, findAndModify bool) (int, error) {
	id := bson.D{{Key: "_id", Value: "counter"}}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "counter"}, {Key: "n", Value: 0}}); err != nil {
		return 0, err
	}
	inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				var err error
				if findAndModify {
					err = coll.FindOneAndUpdate(ctx, id, inc).Err()
				} else {
					_, err = coll.UpdateOne(ctx, id, inc)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	var got struct{ N int }
	err := coll.FindOne(ctx, id).Decode(&got)
	return got.N, err
}

// TestIncIsolation runs 8×50 concurrent $inc on one document, by updateOne
// and by findOneAndUpdate, on each backend with and without the isolator.
// With it no update may be lost. Without it FerretDB 1.24 loses updates on
// either backend (it reads the document in one statement and writes it back
// in another); that count is logged, not asserted, since a lucky schedule
// may lose none.
func TestIncIsolation(t *testing.T) {
	t.Parallel()
	const workers, per = 8, 50
	for _, b := range backends(t) {
		for _, unisolated := range []bool{false, true} {
			for _, fam := range []bool{false, true} {
				op := "updateOne"
				if fam {
					op = "findOneAndUpdate"
				}
				name := b.name + "/" + op
				if unisolated {
					name += "/unisolated"
				}
				t.Run(name, func(t *testing.T) {
					ctx := t.Context()
					cfg := b.cfg
					cfg.Unisolated = unisolated
					s := start(t, cfg)
					coll := connect(t, s.URI()).Database("iso").Collection(strings.ReplaceAll(name, "/", "_"))
					got, err := incRace(ctx, coll, workers, per, fam)
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("%s: %d×%d $inc on one document ended at %d (want %d)", name, workers, per, got, workers*per)
					if got < 1 || got > workers*per {
						t.Fatalf("count %d outside [1, %d]", got, workers*per)
					}
					if !unisolated && got != workers*per {
						t.Fatalf("lost %d of %d updates", workers*per-got, workers*per)
					}
				})
			}
		}
	}
}

// chatOp is one chat send as the store sees it: the message appended, the
// room's last position moved with $max and its counter bumped with $inc.
func chatOp(ctx context.Context, db *mongo.Database, room, seq int) error {
	roomID := "room-" + strconv.Itoa(room)
	pos := fmt.Sprintf("%012d", seq)
	if _, err := db.Collection("messages").InsertOne(ctx, bson.D{
		{Key: "_id", Value: roomID + "/" + pos}, {Key: "room", Value: roomID}, {Key: "pos", Value: pos},
		{Key: "sender", Value: "u" + strconv.Itoa(seq%2)}, {Key: "body", Value: "hello there, a chat message of ordinary length"},
	}); err != nil {
		return err
	}
	_, err := db.Collection("rooms").UpdateOne(ctx, bson.D{{Key: "_id", Value: roomID}}, bson.D{
		{Key: "$max", Value: bson.D{{Key: "last_pos", Value: pos}}},
		{Key: "$inc", Value: bson.D{{Key: "count", Value: 1}}},
	})
	return err
}

// chatLoad runs n chat sends (sequence numbers from first on) over rooms
// rooms from workers goroutines and returns the rate.
func chatLoad(ctx context.Context, db *mongo.Database, first, n, rooms, workers int) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := chatOp(ctx, db, i%rooms, first+i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(began).Seconds(), nil
}

// BenchmarkBackends measures the backends in one run: chat sends/s (one
// insert and one $max/$inc room update each, 100 rooms, 32 senders) and
// the 8×50 $inc isolation result. b.N is the number of sends per backend:
//
//	go test -run '^$' -bench Backends -benchtime 3000x ./internal/docstore/
//
// PostgreSQL runs twice: on moatest's server (fsync off, as in tests) and
// on a server of its own with PostgreSQL's default settings, as `moa dev`
// runs it (every commit fsyncs its WAL). SQLite runs as moa dev runs it:
// WAL, synchronous=NORMAL (no fsync per commit).
func BenchmarkBackends(b *testing.B) {
	const rooms, workers = 100, 32
	ctx := b.Context()
	type result struct {
		name     string
		rate     float64
		iso, fam int
	}
	if b.N == 1 {
		// The testing package's first, estimating call: starting three
		// stores and a PostgreSQL cluster to time one send would double
		// the run for nothing. Give -benchtime as a count (3000x).
		return
	}
	durable, err := pglocal.Start(ctx, pglocal.Config{DataDir: filepath.Join(b.TempDir(), "pg"), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { durable.Stop(context.Background()) })
	var bs []backend
	for _, be := range backends(b) {
		bs = append(bs, be)
		be.name += "-unisolated"
		be.cfg.Unisolated = true
		bs = append(bs, be)
	}
	bs = append(bs, backend{"postgresql-fsync", docstore.Config{Backend: docstore.BackendPostgreSQL, PostgreSQLURL: durable.URL("postgres")}})
	var res []result
	for _, be := range bs {
		s := start(b, be.cfg)
		db := connect(b, s.URI()).Database(strings.ReplaceAll("bench_"+be.name, "-", "_"))
		// The rooms exist before the sends, as in chat: concurrent upserts
		// of one new document race to a duplicate key on FerretDB.
		var roomDocs []any
		for r := range rooms {
			roomDocs = append(roomDocs, bson.D{{Key: "_id", Value: "room-" + strconv.Itoa(r)}, {Key: "count", Value: 0}})
		}
		if _, err := db.Collection("rooms").InsertMany(ctx, roomDocs); err != nil {
			b.Fatal(err)
		}
		// Warm up: the collections exist and the connection pool is full.
		if _, err := chatLoad(ctx, db, 1_000_000_000, workers, rooms, workers); err != nil {
			b.Fatal(err)
		}
		rate, err := chatLoad(ctx, db, 0, b.N, rooms, workers)
		if err != nil {
			b.Fatalf("%s: %v", be.name, err)
		}
		iso, err := incRace(ctx, db.Collection("iso_update"), 8, 50, false)
		if err != nil {
			b.Fatal(err)
		}
		fam, err := incRace(ctx, db.Collection("iso_fam"), 8, 50, true)
		if err != nil {
			b.Fatal(err)
		}
		res = append(res, result{be.name, rate, iso, fam})
		b.ReportMetric(rate, "sends/s-"+be.name)
		s.Close()
	}
	table := fmt.Sprintf("\n| backend | chat sends/s (%d, %d rooms, %d senders) | vs sqlite | 8×50 $inc updateOne | 8×50 $inc findOneAndUpdate |\n|---|---|---|---|---|", b.N, rooms, workers)
	for _, r := range res {
		table += fmt.Sprintf("\n| %s | %.0f | %.2f× | %d | %d |", r.name, r.rate, r.rate/res[0].rate, r.iso, r.fam)
	}
	// Printed, not logged: the testing package truncates a benchmark's log.
	fmt.Println(table)
}

// The kill -9 test: a child process (this test binary, see runChild)
// starts a store, writes from several goroutines and prints the id of every
// write the store acknowledged; the test SIGKILLs it mid-stream, restarts a
// store on the same data and looks for every acknowledged id.

const (
	envChild        = "MOA_DOCSTORE_TEST_CHILD" // backend name
	envChildDir     = "MOA_DOCSTORE_TEST_DIR"
	envChildPGURL   = "MOA_DOCSTORE_TEST_PGURL"
	childWriters    = 8
	ackedBeforeKill = 400
)

func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	for _, name := range docstore.Backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := docstore.Config{Backend: name}
			var pg interface {
				Kill() error
				Restart(context.Context) error
				URL(db string) string
			}
			if name == docstore.BackendSQLite {
				cfg.Dir = t.TempDir()
			} else {
				// A server of its own, killed too: moa dev's PostgreSQL dies
				// with it (pglocal's parent-death signal).
				srv := moatest.PostgresServer(t)
				pg, cfg.PostgreSQLURL = srv, srv.URL("postgres")
			}
			acked := runAndKill(t, cfg)
			if pg != nil {
				if err := pg.Kill(); err != nil {
					t.Fatal(err)
				}
				if err := pg.Restart(t.Context()); err != nil {
					t.Fatal(err)
				}
				cfg.PostgreSQLURL = pg.URL("postgres")
			}
			coll := connect(t, start(t, cfg).URI()).Database("kill").Collection("messages")
			cur, err := coll.Find(t.Context(), bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				t.Fatal(err)
			}
			var docs []struct {
				ID string `bson:"_id"`
			}
			if err := cur.All(t.Context(), &docs); err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, d := range docs {
				have[d.ID] = true
			}
			var lost []string
			for _, id := range acked {
				if !have[id] {
					lost = append(lost, id)
				}
			}
			t.Logf("%s: %d writes acknowledged before SIGKILL, %d documents after restart, %d acknowledged lost", name, len(acked), len(docs), len(lost))
			if len(lost) > 0 {
				t.Fatalf("lost %d acknowledged writes, e.g. %v", len(lost), lost[:min(5, len(lost))])
			}
		})
	}
}

// runAndKill starts the child writer on cfg, SIGKILLs it once it has
// acknowledged ackedBeforeKill writes, and returns every id it acknowledged.
func runAndKill(t *testing.T, cfg docstore.Config) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+cfg.Backend, envChildDir+"="+cfg.Dir, envChildPGURL+"="+cfg.PostgreSQLURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	// Lines printed before the kill are in the pipe: reading on to EOF after
	// it collects every acknowledgement the child made.
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		acked = append(acked, id)
		if len(acked) == ackedBeforeKill && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acknowledgements without being killed: %v", len(acked), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	return acked
}

// runChild is the writer of the kill -9 test: it never returns.
func runChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "docstore kill -9 child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	s, err := docstore.Start(ctx, docstore.Config{
		Backend: os.Getenv(envChild), Dir: os.Getenv(envChildDir), PostgreSQLURL: os.Getenv(envChildPGURL),
	})
	if err != nil {
		fail(err)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
	if err != nil {
		fail(err)
	}
	db := c.Database("kill")
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	for g := range childWriters {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%06d", g, i)
				_, err := db.Collection("messages").InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "body", Value: "acknowledged"}})
				if err != nil {
					fail(err)
				}
				// Printed only after the store answered: an "ack" line is a
				// promise the data must keep.
				mu.Lock()
				fmt.Fprintf(w, "ack %s\n", id)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}

// Updates by _id (a lock per document), bulk writes over several ids (one
// command locking them all, sent as a document sequence) and updates by
// another filter (the collection's lock) race on the same documents; the
// isolator must lose none of them, whatever the mix.
func TestIsolationMixedFilters(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			coll := connect(t, start(t, b.cfg).URI()).Database("iso").Collection("mixed")
			ids := []string{"a", "b", "c"}
			for _, id := range ids {
				if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "kind", Value: "x"}, {Key: "n", Value: 0}}); err != nil {
					t.Fatal(err)
				}
			}
			inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}
			const rounds = 20
			var wg sync.WaitGroup
			errs := make(chan error, 12)
			run := func(f func() error) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						if err := f(); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for _, id := range ids { // +rounds each, by _id
				run(func() error { _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, inc); return err })
				run(func() error { // +rounds each, by {_id: {$eq: id}} through findAndModify
					return coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$eq", Value: id}}}}, inc).Err()
				})
			}
			for range 2 { // +2·rounds each, one command over every id
				run(func() error {
					var models []mongo.WriteModel
					for _, id := range []string{"c", "a", "b"} {
						models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpdate(inc))
					}
					_, err := coll.BulkWrite(ctx, models)
					return err
				})
			}
			for range 2 { // +2·rounds each, by another field: the collection's lock
				run(func() error { _, err := coll.UpdateMany(ctx, bson.D{{Key: "kind", Value: "x"}}, inc); return err })
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			want := 6 * rounds
			for _, id := range ids {
				var got struct{ N int }
				if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil {
					t.Fatal(err)
				}
				if got.N != want {
					t.Errorf("%s: n = %d, want %d", id, got.N, want)
				}
			}
		})
	}
}

// FerretDB keeps a connection per statement of a command until the command
// ends and takes another to write, so, left alone, one update command of
// as many statements as its pool holds (SQLite 100, PostgreSQL 50), or as
// many clients updating at once, hangs the store. The isolator splits big
// commands and bounds the statements in flight; the merged reply must add
// up. (FerretDB's own reply indexes are not MongoDB's: a write error is
// reported at index 0 and an upsert at the count of upserts before it, so
// only counts are checked.)
func TestManyStatementsAndUpdatersDoNotHang(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			coll := connect(t, start(t, b.cfg).URI()).Database("many").Collection("c")
			const docs = 150
			var all []any
			for i := range docs {
				all = append(all, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: 0}})
			}
			if _, err := coll.InsertMany(ctx, all); err != nil {
				t.Fatal(err)
			}
			inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}
			// One command: 150 updates, the one at index 120 an upsert of a new document.
			var models []mongo.WriteModel
			for i := range docs {
				if i == 120 {
					models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "new"}}).SetUpdate(inc).SetUpsert(true))
					continue
				}
				models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: i}}).SetUpdate(inc))
			}
			for _, ordered := range []bool{false, true} {
				res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(ordered))
				if err != nil {
					t.Fatalf("bulk of %d (ordered %v): %v", docs, ordered, err)
				}
				wantMatched, wantUpserted := int64(docs-1), int64(1)
				if ordered {
					wantMatched, wantUpserted = docs, 0 // "new" exists now
				}
				if res.MatchedCount != wantMatched || res.ModifiedCount != wantMatched || res.UpsertedCount != wantUpserted {
					t.Fatalf("bulk of %d (ordered %v): %+v, want %d matched and modified, %d upserted", docs, ordered, res, wantMatched, wantUpserted)
				}
			}
			// 150 clients' connections updating at once.
			var wg sync.WaitGroup
			errs := make(chan error, docs)
			for i := range docs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 5 {
						if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, inc); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				t.Fatalf("150 updaters: %v", err)
			}
			// Each document: +2 by the bulks (120 none: its statement is "new"'s), +5.
			for _, c := range []struct {
				id   any
				want int
			}{{0, 7}, {99, 7}, {100, 7}, {120, 5}, {149, 7}, {"new", 2}} {
				var got struct{ N int }
				if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: c.id}}).Decode(&got); err != nil || got.N != c.want {
					t.Errorf("doc %v: n = %d (%v), want %d", c.id, got.N, err, c.want)
				}
			}
		})
	}
}
