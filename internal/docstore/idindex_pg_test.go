package docstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/moatest"
)

// What FerretDB's PostgreSQL backend does with _id (see pgidindex.go): its
// _id index is a btree on ((_jsonb->'_id')). The write-back of an update
// filters on _jsonb->'_id' = $2, which that index serves; a find by _id (and
// the read every update starts with) filters on _jsonb->$1 @> $2,
// containment, which a btree cannot serve: a sequential scan, unless the
// store's GIN index is there. The test pins both plans with and without it,
// on FerretDB's own statements after ANALYZE, so that a FerretDB change
// shows here, and checks that the index changes neither _id uniqueness nor
// what listIndexes reports.
func TestPostgreSQLLookupByIDPlans(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noIndex bool
		want    string // in the plan of a find by _id
	}{
		{"ferretdb-only", true, "Seq Scan"},
		{"with-gin-index", false, "Bitmap Index Scan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			pgURL := moatest.Postgres(t)
			cfg := docstore.Config{Backend: docstore.BackendPostgreSQL, PostgreSQLURL: pgURL}
			if tc.noIndex {
				cfg = docstore.WithoutIDIndex(cfg)
			}
			s := start(t, cfg)
			db := connect(t, s.URI()).Database("test")
			c := db.Collection("rooms")
			fillPG(t, ctx, c, 2000)

			conn, err := pgx.Connect(ctx, pgURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			tbl := pgx.Identifier{"test", tableOf(t, ctx, conn, "test", "rooms")}.Sanitize()
			explain := func(q string, args ...any) string {
				rows, err := conn.Query(ctx, "EXPLAIN "+q, args...)
				if err != nil {
					t.Fatal(err)
				}
				lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
					var l string
					err := r.Scan(&l)
					return strings.TrimSpace(l), err
				})
				if err != nil {
					t.Fatal(err)
				}
				return strings.Join(lines, " | ")
			}
			// The statement of FerretDB's find with an _id filter; polled
			// because the indexer adds the index within a pass or two.
			var find string
			for deadline := time.Now().Add(10 * time.Second); ; {
				if _, err := conn.Exec(ctx, "ANALYZE "+tbl); err != nil {
					t.Fatal(err)
				}
				find = explain(`SELECT _jsonb FROM `+tbl+` WHERE _jsonb->$1 @> $2`, "_id", `"room-00001"`)
				if strings.Contains(find, tc.want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond) // polling with a deadline
			}
			write := explain(`UPDATE `+tbl+` SET _jsonb = _jsonb WHERE _jsonb->'_id' = $1`, `"room-00001"`)
			t.Logf("find (FerretDB's statement, after ANALYZE): %s", find)
			t.Logf("update write-back: %s", write)
			if !strings.Contains(find, tc.want) {
				t.Fatalf("find by _id: %s, want %s", find, tc.want)
			}
			if !tc.noIndex && !strings.Contains(find, "moa_id_gin_") {
				t.Fatalf("find by _id: %s, want the store's GIN index", find)
			}
			if !strings.Contains(write, "Index Scan") || strings.Contains(write, "moa_id_gin_") {
				t.Errorf("update write-back: %s, want FerretDB's btree index", write)
			}

			// Through FerretDB's explain too: its own statement, its plan.
			var out bson.M
			err = db.RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: "rooms"}, {Key: "filter", Value: bson.M{"_id": "room-00001"}}}}}).Decode(&out)
			if err != nil {
				t.Fatal(err)
			}
			plan := fmt.Sprint(out["queryPlanner"])
			t.Logf("explain through the driver: %s filterPushdown=%v", plan, out["filterPushdown"])
			if !strings.Contains(plan, tc.want) || !strings.Contains(plan, "@>") {
				t.Fatalf("find by _id through FerretDB: plan %s, want its containment filter and %s", plan, tc.want)
			}
			if tc.noIndex {
				return
			}

			// The index changes neither results nor _id uniqueness.
			var got bson.M
			if err := c.FindOne(ctx, bson.M{"_id": "room-00042"}).Decode(&got); err != nil || got["_id"] != "room-00042" {
				t.Fatalf("find by _id: %v %v", got, err)
			}
			res, err := c.UpdateOne(ctx, bson.M{"_id": "room-00042"}, bson.M{"$inc": bson.M{"n": 1}})
			if err != nil || res.ModifiedCount != 1 {
				t.Fatalf("update by _id: %+v %v", res, err)
			}
			_, err = c.InsertOne(ctx, bson.M{"_id": "room-00042"})
			var we mongo.WriteException
			if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 11000 || !strings.Contains(err.Error(), "E11000") {
				t.Fatalf("duplicate _id: got %v, want E11000", err)
			}
			// FerretDB does not list it: listIndexes is unchanged.
			specs, err := c.Indexes().ListSpecifications(ctx)
			if err != nil || len(specs) != 1 || specs[0].Name != "_id_" {
				t.Fatalf("listIndexes: %v %v", specs, err)
			}
			// A collection created later, and one dropped and re-created,
			// get the index too; a dropped index of FerretDB's still drops.
			if err := c.Drop(ctx); err != nil {
				t.Fatal(err)
			}
			fillPG(t, ctx, c, 10)
			waitGIN(t, ctx, conn, "test", "rooms")
			c2 := db.Collection("later")
			fillPG(t, ctx, c2, 10)
			waitGIN(t, ctx, conn, "test", "later")
			if _, err := c2.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "n", Value: 1}}}); err != nil {
				t.Fatal(err)
			}
			if err := c2.Indexes().DropOne(ctx, "n_1"); err != nil {
				t.Fatal(err)
			}
			specs, err = c2.Indexes().ListSpecifications(ctx)
			if err != nil || len(specs) != 1 || specs[0].Name != "_id_" {
				t.Fatalf("listIndexes after create and drop: %v %v", specs, err)
			}
		})
	}
}

func fillPG(t testing.TB, ctx context.Context, c *mongo.Collection, n int) {
	t.Helper()
	docs := make([]any, 0, n)
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("room-%05d", i)}, {Key: "n", Value: 0}})
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
}

// tableOf returns the table FerretDB's metadata names for coll in schema.
func tableOf(t testing.TB, ctx context.Context, conn *pgx.Conn, schema, coll string) string {
	t.Helper()
	var table string
	q := fmt.Sprintf(`SELECT _jsonb->>'table' FROM %s WHERE _jsonb->>'_id' = $1`,
		pgx.Identifier{schema, "_ferretdb_database_metadata"}.Sanitize())
	if err := conn.QueryRow(ctx, q, coll).Scan(&table); err != nil {
		t.Fatalf("table of %s.%s: %v", schema, coll, err)
	}
	return table
}

// waitGIN polls until coll's table has the store's GIN index.
func waitGIN(t testing.TB, ctx context.Context, conn *pgx.Conn, schema, coll string) {
	t.Helper()
	table := tableOf(t, ctx, conn, schema, coll)
	for deadline := time.Now().Add(10 * time.Second); ; {
		var def string
		err := conn.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 AND indexname LIKE 'moa\_id\_gin\_%'`,
			schema, table).Scan(&def)
		if err == nil {
			if !strings.Contains(def, "USING gin") || !strings.Contains(def, "jsonb_path_ops") {
				t.Fatalf("%s: index %s", coll, def)
			}
			return
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (%s): no GIN index after 10s", coll, table)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// BenchmarkPGIDIndexPass measures one pass of the PostgreSQL _id indexer
// over a database of 10 indexed collections: what the store pays every
// 200 ms in the steady state.
func BenchmarkPGIDIndexPass(b *testing.B) {
	ctx := b.Context()
	pgURL := moatest.Postgres(b)
	s := start(b, docstore.Config{Backend: docstore.BackendPostgreSQL, PostgreSQLURL: pgURL})
	db := connect(b, s.URI()).Database("bench")
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := range 10 {
		fillPG(b, ctx, db.Collection(fmt.Sprint("c", i)), 10)
		waitGIN(b, ctx, conn, "bench", fmt.Sprint("c", i))
	}
	p := docstore.NewPGIDIndexPasser(pgURL)
	defer p.Close(ctx)
	b.ResetTimer()
	for range b.N {
		if err := p.Pass(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPGIDIndexSpeedup measures find and update by _id on 10,000 documents
// on the PostgreSQL backend, with FerretDB's indexes only and with the GIN
// index. Set MOA_IDINDEX_BENCH=1 to run it: it prints figures, asserts none.
func TestPGIDIndexSpeedup(t *testing.T) {
	if os.Getenv("MOA_IDINDEX_BENCH") == "" {
		t.Skip("set MOA_IDINDEX_BENCH=1 to measure")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const docs, d = 10_000, 3 * time.Second
	rates := map[bool][2]float64{}
	for _, noIndex := range []bool{true, false} {
		pgURL := moatest.Postgres(t)
		cfg := docstore.Config{Backend: docstore.BackendPostgreSQL, PostgreSQLURL: pgURL}
		if noIndex {
			cfg = docstore.WithoutIDIndex(cfg)
		}
		s := start(t, cfg)
		c := connect(t, s.URI()).Database("bench").Collection("rooms")
		for i := 0; i < docs; i += 1000 {
			batch := make([]any, 0, 1000)
			for j := i; j < i+1000; j++ {
				batch = append(batch, bson.D{{Key: "_id", Value: fmt.Sprintf("room-%05d", j)}, {Key: "n", Value: 0}, {Key: "pad", Value: strings.Repeat("x", 100)}})
			}
			if _, err := c.InsertMany(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		if !noIndex {
			conn, err := pgx.Connect(ctx, pgURL)
			if err != nil {
				t.Fatal(err)
			}
			waitGIN(t, ctx, conn, "bench", "rooms")
			conn.Close(ctx)
		}
		var r [2]float64
		for op := range 2 {
			n := 0
			begin := time.Now()
			for time.Since(begin) < d {
				id := fmt.Sprintf("room-%05d", rand.IntN(docs))
				var err error
				if op == 0 {
					err = c.FindOne(ctx, bson.M{"_id": id}).Err()
				} else {
					_, err = c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$inc": bson.M{"n": 1}})
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			r[op] = float64(n) / time.Since(begin).Seconds()
		}
		rates[noIndex] = r
		t.Logf("noIndex=%v find=%.0f ops/s update=%.0f ops/s", noIndex, r[0], r[1])
		s.Close()
	}
	t.Logf("10,000 docs, one client: find by _id %.0f -> %.0f ops/s (x%.1f), update by _id %.0f -> %.0f ops/s (x%.1f)",
		rates[true][0], rates[false][0], rates[false][0]/rates[true][0],
		rates[true][1], rates[false][1], rates[false][1]/rates[true][1])
}
