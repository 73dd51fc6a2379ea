package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moa-run/moa/moatest"
)

// These tests run the real binary: built once per test run, started as a child process,
// talked to over HTTP and NATS, stopped with SIGTERM.

const (
	readyTimeout = 3 * time.Minute // first start runs initdb; the machine may be loaded
	exitTimeout  = 2 * time.Minute
)

var moaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "moa-bin-")
	if err != nil {
		panic(err)
	}
	moaBin = filepath.Join(dir, "moa")
	if out, err := exec.Command("go", "build", "-o", moaBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building moa: %v\n%s", err, out)
		os.Exit(1)
	}
	defer os.RemoveAll(dir) // moatest.Main exits; the deferred call is for the build failure path
	moatest.Main(m)
}

// proc is a running moa child process.
type proc struct {
	cmd    *exec.Cmd
	stdout *lineBuffer
	stderr *moatest.Buffer
	done   chan struct{} // closed once the process exited and its output was read
}

// start runs moa with args and an environment holding only env plus PATH and HOME, so the
// developer's own MOA_* variables cannot leak in.
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(moaBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, stdout: newLineBuffer(), stderr: &moatest.Buffer{}, done: make(chan struct{})}
	// Writers rather than StdoutPipe: Wait then returns only after all output was copied.
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("moa stdout:\n%s\nmoa stderr:\n%s", strings.Join(p.stdout.lines(), "\n"), p.stderr.String())
		}
	})
	return p
}

// readReady waits until stdout holds the "nats:" and "web:" lines.
func (p *proc) readReady(t *testing.T) (natsURL, webURL string) {
	t.Helper()
	deadline := time.After(readyTimeout)
	for {
		for _, line := range p.stdout.lines() {
			if v, ok := strings.CutPrefix(line, "nats: "); ok {
				natsURL = v
			}
			if v, ok := strings.CutPrefix(line, "web: "); ok {
				webURL = v
			}
		}
		if natsURL != "" && webURL != "" {
			return natsURL, webURL
		}
		select {
		case <-p.stdout.changed:
		case <-p.done:
			t.Fatalf("moa exited (%v) before printing its addresses", p.cmd.ProcessState)
		case <-deadline:
			t.Fatalf("no nats:/web: lines after %v", readyTimeout)
		}
	}
}

// terminate sends SIGTERM and returns the exit code.
func (p *proc) terminate(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		t.Fatalf("moa did not exit within %v", exitTimeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// lineBuffer collects a process's stdout and signals each write.
type lineBuffer struct {
	moatest.Buffer
	changed chan struct{}
}

func newLineBuffer() *lineBuffer { return &lineBuffer{changed: make(chan struct{}, 1)} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	n, err := b.Buffer.Write(p)
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

// lines returns the complete lines written so far.
func (b *lineBuffer) lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}
