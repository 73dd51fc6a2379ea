package docstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/moatest"
)

// What FerretDB's PostgreSQL backend does with _id (see idindex.go for
// SQLite): its _id index is a btree on ((_jsonb->'_id')). The write-back of
// an update filters on _jsonb->'_id' = $2, which that index serves; a find
// by _id (and the read every update starts with) filters on
// _jsonb->$1 @> $2, containment, which a btree cannot serve: a sequential
// scan. The test pins both plans, on FerretDB's own statements after
// ANALYZE, so that a FerretDB change shows here.
func TestPostgreSQLLookupByIDPlans(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pgURL := moatest.Postgres(t)
	s := start(t, docstore.Config{Backend: docstore.BackendPostgreSQL, PostgreSQLURL: pgURL})
	db := connect(t, s.URI()).Database("test")
	docs := make([]any, 0, 2000)
	for i := range cap(docs) {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("room-%05d", i)}, {Key: "n", Value: 0}})
	}
	if _, err := db.Collection("rooms").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var out bson.M
	err := db.RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: "rooms"}, {Key: "filter", Value: bson.M{"_id": "room-00001"}}}}}).Decode(&out)
	if err != nil {
		t.Fatal(err)
	}
	plan := fmt.Sprint(out["queryPlanner"])
	t.Logf("explain of a find by _id: %s filterPushdown=%v", plan, out["filterPushdown"])
	if !strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "@>") {
		t.Fatalf("find by _id through FerretDB: plan %s, want its containment filter and a sequential scan", plan)
	}

	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var table string
	if err := conn.QueryRow(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'test' AND tablename LIKE 'rooms\_%'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	tbl := pgx.Identifier{"test", table}.Sanitize()
	if _, err := conn.Exec(ctx, "ANALYZE "+tbl); err != nil {
		t.Fatal(err)
	}
	explain := func(q string, args ...any) string {
		rows, err := conn.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, strings.TrimSpace(l))
		}
		return strings.Join(lines, " | ")
	}
	find := explain(`SELECT _jsonb FROM `+tbl+` WHERE _jsonb->$1 @> $2`, "_id", `"room-00001"`)
	write := explain(`UPDATE `+tbl+` SET _jsonb = _jsonb WHERE _jsonb->'_id' = $1`, `"room-00001"`)
	t.Logf("find (FerretDB's statement, after ANALYZE): %s", find)
	t.Logf("update write-back: %s", write)
	if !strings.Contains(find, "Seq Scan") {
		t.Errorf("find by _id: %s, want Seq Scan (FerretDB 1.24 filters with @>)", find)
	}
	if !strings.Contains(write, "Index Scan") {
		t.Errorf("update write-back: %s, want an index scan", write)
	}
}
