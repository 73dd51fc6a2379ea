package sagasuite

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
)

// The fault suite runs the services as real processes: this test binary re-executed as
// TestServiceProcess, with its role and its servers in the environment.
const (
	roleEnv     = "MOA_SAGA_ROLE"     // comma-separated services to run
	natsEnv     = "MOA_SAGA_NATS"     // the NATS URL
	pgEnv       = "MOA_SAGA_PG"       // JSON: service → PostgreSQL URL
	settingsEnv = "MOA_SAGA_SETTINGS" // JSON: service → key → value
)

// TestServiceProcess is not a test: it is a service process of the fault suite. It starts the
// services of its role, prints READY, and runs until SIGTERM (a clean stop), SIGKILL, or its
// stdin closing (the parent died).
func TestServiceProcess(t *testing.T) {
	role := os.Getenv(roleEnv)
	if role == "" {
		return
	}
	var urls map[string]string
	var set settings
	if err := json.Unmarshal([]byte(os.Getenv(pgEnv)), &urls); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(os.Getenv(settingsEnv)), &set); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("pid", os.Getpid())
	nc, err := nats.Connect(os.Getenv(natsEnv), nats.Name("saga "+role), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := bus.New(nc, bus.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var comps []bus.Component
	for _, name := range strings.Split(role, ",") {
		comp, err := starts[name](ctx, bus.Env{Runtime: rt, Logger: log, PostgresURL: urls[name], Setting: set.get(name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		comps = append(comps, comp)
	}
	fmt.Println("READY")

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	gone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(gone) }()
	select {
	case <-stop:
	case <-gone:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	for i := len(comps) - 1; i >= 0; i-- {
		_ = comps[i].Stop(sctx)
	}
	_ = rt.Close(sctx, true)
}

// proc is a running service process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	once sync.Once
}

// spawn starts a service process running role and waits until it is ready.
func spawn(t *testing.T, name, role, natsURL string, urls map[string]string, set settings) *proc {
	t.Helper()
	pg, _ := json.Marshal(urls)
	st, _ := json.Marshal(set)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServiceProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, natsEnv+"="+natsURL, pgEnv+"="+string(pg), settingsEnv+"="+string(st))
	if _, err := cmd.StdinPipe(); err != nil { // kept open: its closing ends the process
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logFile.Name(), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- true
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("%s exited before it was ready:\n%s", name, p.tail(40))
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s not ready within 2m:\n%s", name, p.tail(40))
	}
	return p
}

// kill kills the process with SIGKILL, as a crash would, and waits until it is gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// pause and resume send SIGSTOP and SIGCONT.
func (p *proc) pause()  { _ = p.cmd.Process.Signal(syscall.SIGSTOP) }
func (p *proc) resume() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }

// stop stops the process cleanly (SIGTERM), killing it if it does not exit in time.
func (p *proc) stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.kill()
		}
	})
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
