package docstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB's SQLite backend uses ("sqlite")
)

// FerretDB 1.24's SQLite backend never uses its own _id index. It creates
// the index on _ferretdb_sjson->"_id" (registry.indexesCreate quotes field
// names with %q) but looks documents up by _id with
// _ferretdb_sjson->'$._id' (metadata.IDColumn, used by find with an _id
// filter, by every update's write-back and by deletes). Both extract the
// same value, but SQLite matches an indexed expression to a query's
// syntactically, so EXPLAIN QUERY PLAN of a lookup by _id says SCAN: every
// update of one chat room or search counter read the whole collection, twice
// (FerretDB's read, then its write-back).
//
// idIndexer adds what FerretDB's queries can use: for every collection table,
// a plain index on exactly their expression. It is not UNIQUE on purpose:
// FerretDB's own unique index still enforces _id uniqueness and still
// produces the duplicate key errors clients see, so their semantics do not
// change. FerretDB neither lists nor drops this index (it keeps its index
// list in _ferretdb_collections); DROP TABLE of a collection drops it with
// the table.
//
// FerretDB creates tables lazily (create, the first insert or upsert,
// createIndexes), out of our sight, so the indexer polls: every
// idIndexInterval it looks at each database file whose size or time changed
// and indexes the tables that lack the index. A pass over an unchanged
// directory costs a few stat calls; a changed file one short-lived SQLite
// connection, closed at once so that no connection of ours outlives a
// database FerretDB drops (it removes the file). Until the pass after a
// collection's creation, lookups in it scan a table that is still small.
//
// The connection shares the WAL with FerretDB's; CREATE INDEX waits for the
// write lock (busy_timeout) like any FerretDB writer. What remains unguarded
// is a database dropped and re-created under the same name within the few
// milliseconds a pass holds its file open; database names in tests are
// unique, and the store is for development and tests.

// idIndexInterval is how often the indexer looks for new collection tables.
const idIndexInterval = 200 * time.Millisecond

// idIndexPrefix starts the name of the index on a table: FerretDB names
// its indexes table+"_"+name, so they never start with it.
const idIndexPrefix = "moa_sjson_id "

type idIndexer struct {
	dir string
	log *slog.Logger
	// seen is each file's stamp when a pass last found it fully indexed.
	seen map[string]fileStamp
}

type fileStamp struct {
	size, walSize int64
	mod, walMod   time.Time
}

// startIDIndexer indexes dir's databases now and then every
// idIndexInterval until the loop is closed.
func startIDIndexer(dir string, log *slog.Logger) *indexLoop {
	x := &idIndexer{dir: dir, log: log, seen: map[string]fileStamp{}}
	return startIndexLoop(x.pass, nil)
}

// pass indexes the tables of every changed database file.
func (x *idIndexer) pass(ctx context.Context) {
	files, _ := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	for _, f := range files {
		st, ok := stamp(f)
		if !ok || x.seen[f] == st {
			continue
		}
		if err := indexIDs(ctx, f); err != nil {
			if ctx.Err() == nil {
				// The next pass tries again; a database being dropped
				// ends up here too.
				x.log.Debug("docstore: _id index pass failed", "file", f, "err", err)
			}
			continue
		}
		// Restamp after our own writes so they do not trigger another pass.
		if st, ok = stamp(f); ok {
			x.seen[f] = st
		}
	}
	// Forget files gone since (a dropped database), from the listing above.
	maps.DeleteFunc(x.seen, func(f string, _ fileStamp) bool {
		_, found := slices.BinarySearch(files, f) // Glob's list is sorted
		return !found
	})
}

func stamp(f string) (fileStamp, bool) {
	fi, err := os.Stat(f)
	if err != nil {
		return fileStamp{}, false
	}
	s := fileStamp{size: fi.Size(), mod: fi.ModTime()}
	if wi, err := os.Stat(f + "-wal"); err == nil {
		s.walSize, s.walMod = wi.Size(), wi.ModTime()
	}
	return s, true
}

// indexIDs creates the missing _id expression indexes in one database file.
func indexIDs(ctx context.Context, file string) error {
	// mode=rw: never create a database FerretDB would then list.
	u := &url.URL{Scheme: "file", Path: file,
		RawQuery: url.Values{"mode": {"rw"}, "_pragma": {"busy_timeout(5000)"}}.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	tables, err := missingIDIndexes(ctx, db)
	if err != nil {
		return err
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`,
			quoteIdent(idIndexPrefix+t), quoteIdent(t))
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "no such table") {
				continue // dropped since we listed it
			}
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// missingIDIndexes lists the collection tables (as FerretDB's metadata
// names them) that have no index of ours yet.
func missingIDIndexes(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM _ferretdb_collections c
		WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = c.table_name)
		AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ? || c.table_name)`,
		idIndexPrefix)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil // a database FerretDB has not initialised yet
		}
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
