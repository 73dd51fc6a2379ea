// Package pglocal runs a private PostgreSQL server from the machine's own
// server binaries (initdb, postgres), for `moa dev` and for tests.
//
// The server is a plain child process, not a daemon: it listens only on
// 127.0.0.1, keeps its unix socket in a directory this package owns (so it
// never collides with a system cluster in /var/run/postgresql), and is
// started with a parent-death signal so it cannot outlive the Go process
// that started it, even when that process is killed.
//
// initdb refuses to run as root. When the current process is root the
// server is run as the "postgres" OS user, which Debian's postgresql
// package creates, and the directories it needs are handed to that user.
package pglocal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// ErrNotFound is returned (wrapped) when the server binaries are missing.
// Its message tells the user what to do about it.
var ErrNotFound = errors.New(`PostgreSQL server binaries (initdb, postgres) not found: ` +
	`install them with "apt-get install -y postgresql" (Debian) or set ` +
	`MOA_TEST_POSTGRES_URL / MOA_POSTGRES_URL to an existing server`)

// Superuser is the role initdb creates; URLs connect as it without a password.
const Superuser = "postgres"

// Config describes a local server.
type Config struct {
	// DataDir is the cluster's data directory. It is initialised (initdb)
	// when it holds no PG_VERSION file, and reused as is otherwise.
	DataDir string

	// Port to listen on, on 127.0.0.1. Zero picks a free one.
	Port int

	// Logger receives the server's own log lines at debug level (and
	// FATAL/PANIC lines at warn). Nil discards them; the tail of the log
	// is still quoted in errors.
	Logger *slog.Logger

	// Fast trades durability for speed: fsync, synchronous_commit and
	// full_page_writes off. Only for throwaway data: a killed server loses
	// the commits of its last fraction of a second, and a machine crash can
	// corrupt the cluster. Crash tests want Settings fsync=off and
	// full_page_writes=off instead, which survive Kill.
	Fast bool

	// NoSync passes --no-sync to initdb.
	NoSync bool

	// Template, when set, is an initialised data directory that is copied
	// into DataDir instead of running initdb. Copying is several times
	// faster than initdb, which matters when a test suite wants many
	// dedicated servers.
	Template string

	// BinDir overrides where initdb and postgres are looked up.
	BinDir string

	// Settings are extra server settings, passed as -c name=value.
	Settings map[string]string

	// StartTimeout bounds how long Start and Restart wait for the server to
	// accept connections when ctx has no deadline. Default 60s.
	StartTimeout time.Duration

	// StopTimeout bounds a fast shutdown before the server is killed when
	// ctx has no deadline. Default 15s.
	StopTimeout time.Duration
}

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return errors.New("pglocal: Config.DataDir is required")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("pglocal: data dir: %w", err)
	}
	c.DataDir = abs
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 15 * time.Second
	}
	return nil
}

// debianRoot is where Debian and Ubuntu install the server binaries of each
// major version (a variable so tests can point it elsewhere).
var debianRoot = "/usr/lib/postgresql"

// Binaries are the server programs this package runs.
type Binaries struct {
	Initdb   string
	Postgres string
}

// FindBinaries locates initdb and postgres: in binDir when given, else on
// PATH, else in the highest-versioned /usr/lib/postgresql/*/bin (Debian does
// not put the server binaries on PATH). The error wraps ErrNotFound.
func FindBinaries(binDir string) (Binaries, error) {
	if binDir != "" {
		b, ok := binariesIn(binDir)
		if !ok {
			return Binaries{}, fmt.Errorf("pglocal: not in %s: %w", binDir, ErrNotFound)
		}
		return b, nil
	}
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return Binaries{Initdb: initdb, Postgres: postgres}, nil
	}
	dirs, _ := filepath.Glob(filepath.Join(debianRoot, "*", "bin"))
	sort.Slice(dirs, func(i, j int) bool { return debianVersion(dirs[i]) > debianVersion(dirs[j]) })
	for _, d := range dirs {
		if b, ok := binariesIn(d); ok {
			return b, nil
		}
	}
	return Binaries{}, ErrNotFound
}

// debianVersion turns /usr/lib/postgresql/15/bin (or 9.6) into a number
// that sorts numerically, so 10 ranks above 9.6.
func debianVersion(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return -1
	}
	return v
}

func binariesIn(dir string) (Binaries, bool) {
	b := Binaries{Initdb: filepath.Join(dir, "initdb"), Postgres: filepath.Join(dir, "postgres")}
	for _, p := range []string{b.Initdb, b.Postgres} {
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return Binaries{}, false
		}
	}
	return b, true
}

// URL returns a connection URL for database db on a server listening on
// 127.0.0.1:port, as the trusted superuser.
func URL(port int, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, port, db)
}

// settingArgs renders the server settings as -c flags, in a stable order so
// a failing command line is easy to compare between runs.
func settingArgs(settings map[string]string) []string {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	return args
}

func hasPGVersion(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "PG_VERSION"))
	return err == nil
}
