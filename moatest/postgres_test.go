package moatest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/moatest"
)

func pgConnect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func tableExists(t *testing.T, conn *pgx.Conn, name string) bool {
	t.Helper()
	var exists bool
	if err := conn.QueryRow(t.Context(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

func TestPostgresFreshDatabasePerTest(t *testing.T) {
	t.Parallel()
	var firstURL, firstDB string
	t.Run("creates a table", func(t *testing.T) {
		firstURL = moatest.Postgres(t)
		conn := pgConnect(t, firstURL)
		if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&firstDB); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(firstDB, "t_testpostgresfreshdatabasepertest_creates_a_table_") {
			t.Errorf("database name %q does not derive from the test name", firstDB)
		}
		if _, err := conn.Exec(t.Context(), "CREATE TABLE widgets (id int)"); err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: the drop at cleanup must not mind.
	})
	t.Run("does not see it", func(t *testing.T) {
		url := moatest.Postgres(t)
		if url == firstURL {
			t.Fatalf("same database twice: %s", url)
		}
		conn := pgConnect(t, url)
		if tableExists(t, conn, "widgets") {
			t.Fatal("table from another test is visible")
		}
		var n int
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", firstDB).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("database %s of the finished test was not dropped", firstDB)
		}
	})
}

func TestPostgresServerRestartAndKillKeepData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := moatest.PostgresServer(t)
	conn := pgConnect(t, srv.URL("postgres"))
	if _, err := conn.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v int); INSERT INTO kv VALUES ('a', 1)"); err != nil {
		t.Fatal(err)
	}
	port := srv.Port()

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn = pgConnect(t, srv.URL("postgres"))
	if _, err := conn.Exec(ctx, "INSERT INTO kv VALUES ('b', 2)"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if srv.Port() != port {
		t.Fatalf("port changed %d -> %d", port, srv.Port())
	}
	var sum int
	if err := pgConnect(t, srv.URL("postgres")).QueryRow(ctx, "SELECT sum(v) FROM kv").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 3 {
		t.Fatalf("sum = %d after restart and kill, want 3", sum)
	}
}
