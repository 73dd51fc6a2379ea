package deploy_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/moa-run/moa/internal/pglocal"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

// pgServices are the registered services that own a PostgreSQL database.
func pgServices() []string {
	var out []string
	for _, name := range system.Services() {
		if r, _ := system.Lookup(name); r.Postgres {
			out = append(out, name)
		}
	}
	return out
}

func psql(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("psql"); err == nil {
		return p
	}
	bins, err := pglocal.FindBinaries("")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(bins.Postgres), "psql")
}

// runInit runs init.sql as the postgres image's entrypoint does: psql as the superuser, with
// the container's environment.
func runInit(t *testing.T, adminURL string, env []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, psql(t), "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-d", adminURL, "-f", "postgres/init.sql")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPostgresInitGivesEachServiceAPrivateDatabase(t *testing.T) {
	srv := moatest.PostgresServer(t)
	admin := srv.URL("postgres")
	services := pgServices()
	var env []string
	for _, name := range services {
		env = append(env, system.SettingEnv(name, "db_password")+"="+name+"-pw")
	}
	if out, err := runInit(t, admin, env); err != nil {
		t.Fatalf("init.sql: %v\n%s", err, out)
	}
	for _, name := range services {
		db := system.DatabaseName("", name)
		if err := usePostgresAs(t, admin, db, db); err != nil {
			t.Errorf("%s cannot use its own database %s: %v", name, db, err)
		}
		for _, other := range services {
			if other == name {
				continue
			}
			err := usePostgresAs(t, admin, db, system.DatabaseName("", other))
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("role %s connecting to %s's database: %v, want permission denied (42501)", db, other, err)
			}
		}
	}
}

func TestPostgresInitFailsWithoutPasswords(t *testing.T) {
	srv := moatest.PostgresServer(t)
	out, err := runInit(t, srv.URL("postgres"), nil)
	if err == nil || !strings.Contains(out, "_DB_PASSWORD is not set") {
		t.Fatalf("init.sql without passwords: %v\n%s", err, out)
	}
	conn, err := pgx.Connect(ctxFor(t, 30*time.Second), srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctxFor(t, 30*time.Second), `SELECT count(*) FROM pg_roles WHERE rolname LIKE 'moa\_%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a failed init left %d roles behind (%v)", n, err)
	}
}

// usePostgresAs connects as role to database db on the server of adminURL, creates a table and
// reads it back: what a service does with its own database.
func usePostgresAs(t *testing.T, adminURL, role, db string) error {
	t.Helper()
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, strings.TrimPrefix(role, "moa_")+"-pw")
	u.Path = "/" + db
	ctx := ctxFor(t, 30*time.Second)
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE TABLE probe (id int)`); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `SELECT count(*) FROM probe`)
	return err
}
