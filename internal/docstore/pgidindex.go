package docstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// FerretDB 1.24's PostgreSQL backend has the same blind spot as its SQLite
// one (idindex.go), for another reason. Its _id index is a btree on
// ((_jsonb->'_id')), which serves the write-back of an update
// (_jsonb->'_id' = $2) but not a find by _id, nor the read every update and
// delete starts with: those filter with containment, _jsonb->$1 @> $2, which
// a btree cannot serve, so every one of them scanned the whole collection.
//
// pgIDIndexer adds, to every collection table, a GIN index on
// (_jsonb->'_id') with jsonb_path_ops, which serves exactly that containment
// (EXPLAIN: Bitmap Index Scan; TestPGIDIndexSpeedup, 10,000 documents, one
// client: find by _id 203 -> 1,463 ops/s, update by _id 105 -> 734). As
// for SQLite it is not UNIQUE: FerretDB's own unique btree keeps enforcing
// _id and producing the duplicate key errors clients see. FerretDB neither lists nor drops it (listIndexes reads
// FerretDB's metadata table, not the catalog); DROP TABLE drops it with the
// table.
//
// FerretDB creates tables lazily, so the indexer polls every
// idIndexInterval over one connection of its own: a single catalog query
// finds the FerretDB schemas (those holding _ferretdb_database_metadata)
// with a table that lacks our index, which in the steady state answers
// nothing (BenchmarkPGIDIndexPass: 0.5 ms per pass over 10 collections). Only for such a schema does it read FerretDB's metadata for the
// collection tables, so that a table of someone else's in that schema is
// left alone.
//
// CREATE INDEX (not CONCURRENTLY) takes a SHARE lock for the build: FerretDB's
// writes to that table wait for it. The tables are new when we see them
// (a pass runs every 200 ms), so the build takes milliseconds; a store
// upgraded with large collections pays it once. lock_timeout keeps the
// indexer from queueing behind (and so in front of) FerretDB's own DDL:
// on a timeout the next pass tries again. CONCURRENTLY would avoid the
// write pause but leaves an invalid index behind when interrupted, and waits
// for every open transaction in the database.

// pgIDIndexPrefix starts our index names. FerretDB's index names end in
// "_idx" (table_index_hash_idx), ours never do, so they cannot collide.
const pgIDIndexPrefix = "moa_id_gin_"

// ferretMetadataTable is FerretDB's per-schema table of collections
// (metadata.metadataTableName); each row's _jsonb has "table".
const ferretMetadataTable = "_ferretdb_database_metadata"

type pgIDIndexer struct {
	url  string
	log  *slog.Logger
	conn *pgx.Conn // nil until connected, and after an error
}

func startPGIDIndexer(url string, log *slog.Logger) *indexLoop {
	x := &pgIDIndexer{url: url, log: log}
	return startIndexLoop(x.passOrReset, x.disconnect)
}

// passOrReset runs a pass; after a failure the next pass tries again on a
// new connection (a table dropped meanwhile or a lock timeout end up here too).
func (x *pgIDIndexer) passOrReset(ctx context.Context) {
	if err := x.pass(ctx); err != nil && ctx.Err() == nil {
		x.log.Debug("docstore: _id GIN index pass failed", "err", err)
		x.disconnect()
	}
}

func (x *pgIDIndexer) disconnect() {
	if x.conn != nil {
		x.conn.Close(context.Background())
		x.conn = nil
	}
}

// pgIDIndexName is our index's name on table: a hash keeps it within
// PostgreSQL's 63 bytes whatever the table's name.
func pgIDIndexName(table string) string {
	h := fnv.New64a()
	h.Write([]byte(table))
	return fmt.Sprintf("%s%016x", pgIDIndexPrefix, h.Sum64())
}

// pass creates the missing GIN indexes.
func (x *pgIDIndexer) pass(ctx context.Context) error {
	if x.conn == nil {
		c, err := pgx.Connect(ctx, x.url)
		if err != nil {
			return err
		}
		// Never wait long behind FerretDB's locks; see above.
		if _, err := c.Exec(ctx, `SET lock_timeout = '1s'`); err != nil {
			c.Close(context.Background())
			return err
		}
		x.conn = c
	}
	schemas, err := x.pendingSchemas(ctx)
	if err != nil {
		return err
	}
	for _, schema := range schemas {
		if err := x.indexSchema(ctx, schema); err != nil {
			return fmt.Errorf("schema %s: %w", schema, err)
		}
	}
	return nil
}

// pendingSchemas lists the FerretDB schemas with an ordinary table, other
// than the metadata table, that has no index named like ours.
func (x *pgIDIndexer) pendingSchemas(ctx context.Context) ([]string, error) {
	rows, err := x.conn.Query(ctx, `SELECT DISTINCT n.nspname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND c.relname <> $1
		AND EXISTS (SELECT 1 FROM pg_class m WHERE m.relnamespace = c.relnamespace AND m.relname = $1 AND m.relkind = 'r')
		AND NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
			WHERE i.indrelid = c.oid AND starts_with(ic.relname, $2))`,
		ferretMetadataTable, pgIDIndexPrefix)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// indexSchema indexes the collection tables FerretDB's metadata names in
// schema.
func (x *pgIDIndexer) indexSchema(ctx context.Context, schema string) error {
	// Only the tables still lacking the index: CREATE INDEX IF NOT EXISTS
	// would take its SHARE lock on the table before finding the index there.
	rows, err := x.conn.Query(ctx, fmt.Sprintf(`SELECT t.relname
		FROM %s m
		JOIN pg_class t ON t.relname = m._jsonb->>'table' AND t.relkind = 'r'
		JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = $1
		WHERE NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
			WHERE i.indrelid = t.oid AND starts_with(ic.relname, $2))`,
		pgx.Identifier{schema, ferretMetadataTable}.Sanitize()), schema, pgIDIndexPrefix)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING gin ((_jsonb->'_id') jsonb_path_ops)`,
			pgx.Identifier{pgIDIndexName(t)}.Sanitize(), pgx.Identifier{schema, t}.Sanitize())
		if _, err := x.conn.Exec(ctx, q); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") {
				continue // undefined_table, invalid_schema_name: dropped since listed
			}
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}
