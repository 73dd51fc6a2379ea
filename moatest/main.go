package moatest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moa-run/moa/internal/pglocal"
)

// procPG is the test binary's PostgreSQL state: the shared server and the
// template for dedicated servers, both under one directory.
var procPG struct {
	dirOnce sync.Once
	dir     string
	dirErr  error

	sharedOnce sync.Once
	shared     *pglocal.Server
	sharedErr  error

	templateOnce sync.Once
	template     string
	templateErr  error
}

const procDirPrefix = "moatest-pg-"

// Main runs the tests and then stops the shared PostgreSQL server and
// removes its files. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { moatest.Main(m) }
//
// Without it the server still dies with the test binary, but its files
// stay in the temp dir until a later test run removes them.
//
// Main is also where a [NATSProcess] child becomes its nats-server.
func Main(m *testing.M) {
	if cfg := os.Getenv(envNATSProcess); cfg != "" {
		serveNATSProcess(cfg) // a NATSProcess child: the server, not the tests
	}
	code := m.Run()
	if err := shutdownProcess(); err != nil {
		os.Stderr.WriteString("moatest: " + err.Error() + "\n")
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func shutdownProcess() error {
	var err error
	if procPG.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
		defer cancel()
		err = procPG.shared.Stop(ctx)
	}
	if procPG.dir != "" {
		err = errors.Join(err, os.RemoveAll(procPG.dir))
	}
	return err
}

// procDir is this process's PostgreSQL directory. Creating it first
// removes those of earlier test binaries that died without Main's
// cleanup, so killed runs do not fill the disk.
func procDir() (string, error) {
	procPG.dirOnce.Do(func() {
		removeStaleProcDirs()
		procPG.dir, procPG.dirErr = os.MkdirTemp("", procDirPrefix)
		if procPG.dirErr == nil {
			procPG.dirErr = os.WriteFile(filepath.Join(procPG.dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		}
	})
	return procPG.dir, procPG.dirErr
}

// removeStaleProcDirs removes the directories whose owning test binary
// is gone and in which no postmaster still runs.
func removeStaleProcDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), procDirPrefix+"*"))
	for _, dir := range dirs {
		if pidAlive(filepath.Join(dir, "owner.pid")) {
			continue
		}
		pidFiles, _ := filepath.Glob(filepath.Join(dir, "*", "postmaster.pid"))
		alive := false
		for _, f := range pidFiles {
			alive = alive || pidAlive(f)
		}
		fi, err := os.Stat(dir)
		// A directory without owner.pid may be one being created right now.
		young := err != nil || time.Since(fi.ModTime()) < time.Minute
		if !alive && !young {
			os.RemoveAll(dir)
		}
	}
}

// pidAlive reads a pid from the first line of file and reports whether
// that process exists. Unreadable files count as alive: when in doubt,
// keep.
func pidAlive(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

var (
	nameSeq    atomic.Uint64
	nameSuffix = func() string {
		b := make([]byte, 3)
		rand.Read(b)
		return hex.EncodeToString(b)
	}()
)

// uniqueName derives a database name from the test name: readable in a
// server's database list, unique across tests and across test binaries
// sharing a server, and within max bytes.
func uniqueName(t testing.TB, prefix string, max int) string {
	suffix := "_" + nameSuffix + strconv.FormatUint(nameSeq.Add(1), 10)
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	base := prefix + b.String()
	if len(base) > max-len(suffix) {
		base = base[:max-len(suffix)]
	}
	return base + suffix
}
