package adapters

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/bus/mongomigrate"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search/domain"
)

// The second schema step moves what the first schema stored into the shards, and the service's
// reads find it there.
func TestMigrationMovesTheFirstSchemasHistoryAndCounters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := moatest.MongoDB(t)
	if err := mongomigrate.Up(ctx, db, migrations[:1], "search"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	bucket := domain.BucketOf(now)
	if _, err := db.Collection(collRecent).InsertMany(ctx, []any{
		bson.M{"user_id": "alice", "query": "yoga", "ts": now.Add(-time.Minute).UnixNano()},
		bson.M{"user_id": "alice", "query": "node.js", "ts": now.UnixNano()},
		bson.M{"user_id": "bob", "query": "pilates", "ts": now.UnixNano()},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(collPopular).InsertMany(ctx, []any{
		bson.M{"_id": "1:yoga", "query": "yoga", "bucket": bucket, "n": 3},
		bson.M{"_id": "2:yoga", "query": "yoga", "bucket": bucket.Add(-time.Hour), "n": 2},
		bson.M{"_id": "3:node.js", "query": "node.js", "bucket": bucket, "n": 4},
	}); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if v, err := Version(ctx, db); err != nil || v != LatestVersion() {
		t.Fatalf("version %d (%v), want %d", v, err, LatestVersion())
	}
	r := NewRepository(db)
	got, err := r.Recent(ctx, "alice", "", 20)
	if err != nil || len(got) != 2 || got[0].Query != "node.js" || got[1].Query != "yoga" {
		t.Fatalf("alice's recent = %+v, %v; want node.js, yoga", got, err)
	}
	top, err := r.Popular(ctx, domain.WindowStart(now, 0), "", 10)
	want := []domain.Popular{{Query: "yoga", Count: 5}, {Query: "node.js", Count: 4}}
	if err != nil || !slices.Equal(top, want) {
		t.Fatalf("popular = %+v, %v; want %+v", top, err, want)
	}
	names, err := db.ListCollectionNames(ctx, bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{collRecent, collPopular} {
		if slices.Contains(names, old) {
			t.Fatalf("collection %s is still there: %v", old, names)
		}
	}
	// The second schema's shard collections went too (the third step).
	for _, name := range names {
		if strings.HasPrefix(name, legacyHistory+"_") || strings.HasPrefix(name, legacyTerms+"_") {
			t.Fatalf("shard collection %s is still there: %v", name, names)
		}
	}
}
