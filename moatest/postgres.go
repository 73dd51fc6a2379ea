package moatest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moa-run/moa/internal/pglocal"
)

// EnvPostgresURL names an existing PostgreSQL server for Postgres to use.
const EnvPostgresURL = "MOA_TEST_POSTGRES_URL"

const pgTimeout = 60 * time.Second

// Postgres creates a new, empty database for this test and returns its
// URL; the database is dropped (connections and all) when the test ends.
// The server is the one MOA_TEST_POSTGRES_URL names, else a throwaway
// local server shared by the whole test binary (see the package comment).
func Postgres(t testing.TB) string {
	t.Helper()
	admin, err := postgresAdminURL()
	if err != nil {
		t.Fatalf("moatest.Postgres: %v", err)
	}
	name := uniqueName(t, "t_", 63)
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("moatest.Postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	if err := pglocal.CreateDatabase(ctx, admin, name); err != nil {
		t.Fatalf("moatest.Postgres: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
		defer cancel()
		if err := pglocal.DropDatabase(ctx, admin, name); err != nil {
			t.Errorf("moatest.Postgres cleanup: %v", err)
		}
	})
	return dbURL
}

// PostgresServer starts a PostgreSQL server for this test alone, for fault
// tests that restart or kill it; it is stopped when the test ends. Its
// "postgres" database is there to use: srv.URL("postgres").
//
// It always runs the local binaries, since a server named by
// MOA_TEST_POSTGRES_URL cannot be restarted from here; when they are
// missing and that variable is set the test is skipped, not failed.
//
// The server does not fsync (a killed process loses nothing the kernel
// has; only a machine crash would) but does commit synchronously, so a
// transaction that returned is still there after Kill and Restart.
func PostgresServer(t testing.TB) *pglocal.Server {
	t.Helper()
	if _, err := pglocal.FindBinaries(""); err != nil && os.Getenv(EnvPostgresURL) != "" {
		t.Skipf("moatest.PostgresServer: needs local PostgreSQL binaries to control the server (%s cannot be restarted from a test): %v", EnvPostgresURL, err)
	}
	tmpl, err := postgresTemplate()
	if err != nil {
		t.Fatalf("moatest.PostgresServer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	srv, err := pglocal.Start(ctx, pglocal.Config{
		DataDir:  filepath.Join(t.TempDir(), "data"),
		Template: tmpl,
		Settings: map[string]string{"fsync": "off", "full_page_writes": "off"},
	})
	if err != nil {
		t.Fatalf("moatest.PostgresServer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("moatest.PostgresServer cleanup: %v", err)
		}
	})
	return srv
}

// withDatabase points a server URL at database name.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New(EnvPostgresURL + " must be a postgres:// URL")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func postgresAdminURL() (string, error) {
	if u := os.Getenv(EnvPostgresURL); u != "" {
		return u, nil
	}
	srv, err := sharedPostgres()
	if err != nil {
		return "", err
	}
	return srv.URL("postgres"), nil
}

func sharedPostgres() (*pglocal.Server, error) {
	procPG.sharedOnce.Do(func() {
		dir, err := procDir()
		if err != nil {
			procPG.sharedErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
		defer cancel()
		procPG.shared, procPG.sharedErr = pglocal.Start(ctx, pglocal.Config{
			DataDir: filepath.Join(dir, "shared"),
			Fast:    true,
			NoSync:  true,
		})
	})
	return procPG.shared, procPG.sharedErr
}

// postgresTemplate initialises, once per process, the data directory that
// dedicated servers copy: copying is faster than initdb.
func postgresTemplate() (string, error) {
	procPG.templateOnce.Do(func() {
		dir, err := procDir()
		if err != nil {
			procPG.templateErr = err
			return
		}
		procPG.template = filepath.Join(dir, "template")
		ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
		defer cancel()
		if err := pglocal.Init(ctx, pglocal.Config{DataDir: procPG.template, NoSync: true}); err != nil {
			procPG.templateErr = fmt.Errorf("initialise template: %w", err)
		}
	})
	return procPG.template, procPG.templateErr
}
