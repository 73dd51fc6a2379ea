package pglocal

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// process is one run of the postmaster.
type process struct {
	cmd  *exec.Cmd
	log  *logWriter
	done chan struct{} // closed once the postmaster has exited and been reaped
	err  error         // Wait's result; read only after done
}

// startProcess starts the child from a goroutine locked to its OS thread
// until the child exits. Linux delivers the parent-death signal when the
// *thread* that forked the child exits, not the process; the Go runtime
// may retire threads, so without the lock the server could be signalled
// while we are still alive.
func startProcess(path string, args []string, own *owner, log *logWriter) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = sysProcAttr(own)
	// Backends inherit stderr; should one outlive the postmaster, Wait must
	// not hang on the pipe it holds open.
	cmd.WaitDelay = 5 * time.Second
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}

	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// waitReady polls until the server accepts a connection to url, the
// process exits, or ctx ends.
func (p *process) waitReady(ctx context.Context, url string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgconn.Connect(attempt, url)
		cancel()
		if err == nil {
			_ = conn.Close(ctx) // the server answered; that is all we asked
			return nil
		}
		lastErr = err
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)\n%s", errExited, p.err, p.log.Tail())
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections: %w (last attempt: %v)\n%s", ctx.Err(), lastErr, p.log.Tail())
		case <-tick.C:
		}
	}
}

// stop asks for a fast shutdown and waits; it kills the process group when
// the server takes longer than ctx or timeout allow.
func (p *process) stop(ctx context.Context, timeout time.Duration) error {
	select {
	case <-p.done:
		return nil // already gone (crashed or killed)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	case <-timer.C:
	}
	p.kill()
	<-p.done
	return fmt.Errorf("pglocal: postgres did not shut down in time, killed it\n%s", p.log.Tail())
}

// kill SIGKILLs the whole process group: the postmaster and every backend,
// so no orphan keeps the shared memory (and the next start) hostage.
func (p *process) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}
