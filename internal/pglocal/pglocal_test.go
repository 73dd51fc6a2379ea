package pglocal

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// templateDir holds a data directory initdb'd once for the package's
// tests; each test copies it.
var templateDir string

var template = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pglocal-test-template-")
	if err != nil {
		return "", err
	}
	templateDir = dir
	data := filepath.Join(dir, "data")
	return data, Init(context.Background(), Config{DataDir: data, NoSync: true})
})

func TestMain(m *testing.M) {
	code := m.Run()
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
	os.Exit(code)
}

func startTest(t *testing.T, cfg Config) *Server {
	t.Helper()
	tmpl, err := template()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	cfg.Template = tmpl
	srv, err := Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctxT(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestFindBinariesMissingSaysWhatToDo(t *testing.T) {
	_, err := FindBinaries(t.TempDir())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	want := `PostgreSQL server binaries (initdb, postgres) not found: install them with "apt-get install -y postgresql" (Debian) or set MOA_TEST_POSTGRES_URL / MOA_POSTGRES_URL to an existing server`
	if ErrNotFound.Error() != want {
		t.Fatalf("message = %q", ErrNotFound.Error())
	}
}

func TestFindBinariesSearchOrder(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "16", "10"} {
		makeFakeBinaries(t, filepath.Join(root, v, "bin"))
	}
	os.MkdirAll(filepath.Join(root, "17", "bin"), 0o755) // incomplete install: skipped
	debianRoot = root
	t.Cleanup(func() { debianRoot = "/usr/lib/postgresql" })

	t.Setenv("PATH", t.TempDir())
	b, err := FindBinaries("")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "16", "bin", "postgres"); b.Postgres != want {
		t.Fatalf("postgres = %s, want the highest version %s", b.Postgres, want)
	}

	onPath := t.TempDir()
	makeFakeBinaries(t, onPath)
	t.Setenv("PATH", onPath)
	if b, err := FindBinaries(""); err != nil || b.Initdb != filepath.Join(onPath, "initdb") {
		t.Fatalf("PATH must win: %+v, %v", b, err)
	}

	t.Setenv("PATH", t.TempDir())
	debianRoot = t.TempDir()
	if _, err := FindBinaries(""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func makeFakeBinaries(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDebianVersionOrder(t *testing.T) {
	if !(debianVersion("/usr/lib/postgresql/10/bin") > debianVersion("/usr/lib/postgresql/9.6/bin")) {
		t.Fatal("10 must rank above 9.6")
	}
}

func TestInitdbFromScratch(t *testing.T) {
	t.Parallel()
	// Nested under a 0700 temp dir on purpose: as root the postgres user
	// must still reach it.
	data := filepath.Join(t.TempDir(), "a", "b", "data")
	srv, err := Start(ctxT(t), Config{DataDir: data, NoSync: true, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	var enc string
	if err := connect(t, srv.URL("postgres")).QueryRow(ctxT(t), "SHOW server_encoding").Scan(&enc); err != nil {
		t.Fatal(err)
	}
	if enc != "UTF8" {
		t.Fatalf("encoding %s", enc)
	}
}

func TestRestartAndKillKeepCommittedData(t *testing.T) {
	t.Parallel()
	srv := startTest(t, Config{})
	port := srv.Port()
	ctx := ctxT(t)
	conn := connect(t, srv.URL("postgres"))
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if srv.Port() != port {
		t.Fatalf("port changed %d -> %d", port, srv.Port())
	}
	conn = connect(t, srv.URL("postgres"))
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("query succeeded on a killed server")
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := connect(t, srv.URL("postgres")).QueryRow(ctx, "SELECT sum(v) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("sum = %d, want 3 (committed rows lost)", n)
	}
}

func TestStopReleasesPort(t *testing.T) {
	t.Parallel()
	srv := startTest(t, Config{Fast: true})
	if err := srv.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(srv.Port()), time.Second)
	if err == nil {
		c.Close()
		t.Fatal("server still listening after Stop")
	}
	if err := srv.Stop(ctxT(t)); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// A stopped server can come back, e.g. for `moa dev` after a pause.
	if err := srv.Restart(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	connect(t, srv.URL("postgres"))
}

func TestFixedPortAndSettings(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := startTest(t, Config{Port: port, Fast: true, Settings: map[string]string{"work_mem": "8MB"}})
	if srv.Port() != port {
		t.Fatalf("port %d, want %d", srv.Port(), port)
	}
	conn := connect(t, srv.URL("postgres"))
	for setting, want := range map[string]string{"work_mem": "8MB", "fsync": "off", "max_connections": "300", "listen_addresses": "127.0.0.1"} {
		var got string
		if err := conn.QueryRow(ctxT(t), "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", setting, got, want)
		}
	}
}

func TestStartFailureQuotesServerLog(t *testing.T) {
	t.Parallel()
	tmpl, err := template()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctxT(t), Config{
		DataDir:  filepath.Join(t.TempDir(), "data"),
		Template: tmpl,
		Settings: map[string]string{"no_such_setting": "1"},
	})
	if err == nil {
		t.Fatal("Start succeeded with a bogus setting")
	}
	if want := "no_such_setting"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error does not quote the server log: %v", err)
	}
}

func TestCreateDropDatabase(t *testing.T) {
	t.Parallel()
	srv := startTest(t, Config{Fast: true})
	ctx := ctxT(t)
	admin := srv.URL("postgres")
	if err := CreateDatabase(ctx, admin, "Mixed-Case db"); err != nil {
		t.Fatal(err)
	}
	// A connection left open must not block the drop.
	connect(t, srv.URL("Mixed-Case%20db"))
	if err := DropDatabase(ctx, admin, "Mixed-Case db"); err != nil {
		t.Fatal(err)
	}
	if err := DropDatabase(ctx, admin, "Mixed-Case db"); err != nil {
		t.Fatalf("dropping a missing database: %v", err)
	}
	if err := CreateDatabase(ctx, admin, "postgres"); err == nil {
		t.Fatal("creating an existing database succeeded")
	}
}
