package docstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// idPlan returns SQLite's plan, as FerretDB's lookup by _id gets it, for the
// table of collection coll in database db of dir.
func idPlan(t testing.TB, ctx context.Context, dir, db, coll string) string {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+filepath.Join(dir, db+".sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var table string
	if err := conn.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table); err != nil {
		t.Fatalf("table of %s: %v", coll, err)
	}
	// The statement of FerretDB's collection.Query with an _id filter.
	rows, err := conn.QueryContext(ctx, fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %s WHERE _ferretdb_sjson->'$._id' = ?`, quoteIdent(table)), `"x"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

func fill(t testing.TB, ctx context.Context, c *mongo.Collection, n int) {
	t.Helper()
	docs := make([]any, 0, 1000)
	for i := 0; i < n; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("room-%05d", i)}, {Key: "n", Value: 0}, {Key: "pad", Value: strings.Repeat("x", 100)}})
		if len(docs) == cap(docs) || i == n-1 {
			if _, err := c.InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
			docs = docs[:0]
		}
	}
}

// waitPlan polls until the plan contains want.
func waitPlan(t testing.TB, ctx context.Context, dir, db, coll, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := idPlan(t, ctx, dir, db, coll)
		if strings.Contains(p, want) || time.Now().After(deadline) {
			return p
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

func TestIDLookupUsesIndex(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		name      string
		noIDIndex bool
		want      string
	}{
		{"ferretdb-only", true, "SCAN"},
		{"with-id-index", false, "USING INDEX " + idIndexPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startT(t, Config{Dir: dir, noIDIndex: tc.noIDIndex})
			c := client(t, s.URI()).Database("test").Collection("rooms")
			fill(t, ctx, c, 100)
			plan := waitPlan(t, ctx, dir, "test", "rooms", tc.want)
			t.Logf("plan of a lookup by _id: %s", plan)
			// FerretDB's explain runs EXPLAIN QUERY PLAN on one of its pooled
			// connections, which reports from the schema that connection last
			// loaded (EXPLAIN starts no transaction, so it never notices a
			// schema change); a real query reloads it first. Poll find then
			// explain until the pool's most recent connection shows it.
			var ex string
			for deadline := time.Now().Add(10 * time.Second); ; {
				if err := c.FindOne(ctx, bson.M{"_id": "room-00001"}).Err(); err != nil {
					t.Fatal(err)
				}
				if ex = explainID(t, ctx, c.Database(), "rooms"); strings.Contains(ex, tc.want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond) // polling with a deadline
			}
			t.Logf("explain through the driver: %s", ex)
			if !strings.Contains(ex, tc.want) || !strings.Contains(ex, `"filterPushdown":true`) {
				t.Fatalf("explain through the driver: %s, want %q", ex, tc.want)
			}
			if !strings.Contains(plan, tc.want) {
				t.Fatalf("plan %q, want %q", plan, tc.want)
			}
			if tc.noIDIndex {
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
			if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 11000 {
				t.Fatalf("duplicate _id: got %v, want E11000", err)
			}
			// A collection created later, and one dropped and re-created,
			// get the index too.
			if err := c.Drop(ctx); err != nil {
				t.Fatal(err)
			}
			fill(t, ctx, c, 10)
			if p := waitPlan(t, ctx, dir, "test", "rooms", tc.want); !strings.Contains(p, tc.want) {
				t.Fatalf("after drop and re-create: plan %q", p)
			}
			c2 := c.Database().Collection("later")
			fill(t, ctx, c2, 10)
			if p := waitPlan(t, ctx, dir, "test", "later", tc.want); !strings.Contains(p, tc.want) {
				t.Fatalf("new collection: plan %q", p)
			}
			// FerretDB does not list it: listIndexes is unchanged.
			specs, err := c.Indexes().ListSpecifications(ctx)
			if err != nil || len(specs) != 1 || specs[0].Name != "_id_" {
				t.Fatalf("listIndexes: %v %v", specs, err)
			}
		})
	}
}

// TestIDIndexSpeedup measures find and update by _id on 10,000 documents
// with FerretDB's indexes only and with the _id index. Set
// MOA_IDINDEX_BENCH=1 to run it: it prints figures, asserts none.
func TestIDIndexSpeedup(t *testing.T) {
	if os.Getenv("MOA_IDINDEX_BENCH") == "" {
		t.Skip("set MOA_IDINDEX_BENCH=1 to measure")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const docs, d = 10_000, 3 * time.Second
	rates := map[bool][2]float64{}
	for _, noIDIndex := range []bool{true, false} {
		dir := t.TempDir()
		s := startT(t, Config{Dir: dir, noIDIndex: noIDIndex})
		c := client(t, s.URI()).Database("bench").Collection("rooms")
		fill(t, ctx, c, docs)
		want := "SCAN"
		if !noIDIndex {
			want = "USING INDEX"
		}
		plan := waitPlan(t, ctx, dir, "bench", "rooms", want)
		var r [2]float64
		for op := range 2 {
			n := 0
			start := time.Now()
			for time.Since(start) < d {
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
			r[op] = float64(n) / time.Since(start).Seconds()
		}
		rates[noIDIndex] = r
		t.Logf("noIDIndex=%v plan=%q find=%.0f ops/s update=%.0f ops/s", noIDIndex, plan, r[0], r[1])
		s.Close()
	}
	t.Logf("10,000 docs, one client: find by _id %.0f -> %.0f ops/s (x%.1f), update by _id %.0f -> %.0f ops/s (x%.1f)",
		rates[true][0], rates[false][0], rates[false][0]/rates[true][0],
		rates[true][1], rates[false][1], rates[false][1]/rates[true][1])
}

// explainID is FerretDB's explain of a find by _id, as a client sees it.
func explainID(t testing.TB, ctx context.Context, db *mongo.Database, coll string) string {
	t.Helper()
	var out bson.M
	err := db.RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: coll}, {Key: "filter", Value: bson.M{"_id": "room-00001"}}}}}).Decode(&out)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out)
}

// BenchmarkIDIndexPass is what the indexer costs per changed database file
// and pass when every table already has its index (one short-lived SQLite
// connection and a query of sqlite_master): it runs every idIndexInterval
// while the file is being written.
func BenchmarkIDIndexPass(b *testing.B) {
	ctx := b.Context()
	dir := b.TempDir()
	s, err := Start(ctx, Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cl, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Disconnect(ctx)
	for i := range 10 {
		fill(b, ctx, cl.Database("bench").Collection(fmt.Sprint("c", i)), 10)
	}
	file := filepath.Join(dir, "bench.sqlite")
	b.ResetTimer()
	for range b.N {
		if err := indexIDs(ctx, file); err != nil {
			b.Fatal(err)
		}
	}
}
