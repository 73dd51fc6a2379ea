package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Server is a running (or stopped, after Stop or Kill) local PostgreSQL.
// Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	bins    Binaries
	own     *owner
	sockDir string

	mu   sync.Mutex
	port int
	proc *process // nil once stopped
}

// Start initialises cfg.DataDir if needed and starts a server on it. It
// returns once the server accepts connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	bins, err := FindBinaries(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	own, err := serverOwner()
	if err != nil {
		return nil, err
	}
	if err := initDataDir(ctx, &cfg, bins, own); err != nil {
		return nil, err
	}
	// The socket lives in a short private temp dir rather than next to the
	// data: socket paths are limited to ~107 bytes, and test data dirs are
	// deep. We only talk TCP; the socket exists because postgres wants one.
	sockDir, err := os.MkdirTemp("", "moa-pgsock-")
	if err != nil {
		return nil, fmt.Errorf("pglocal: socket dir: %w", err)
	}
	if err := own.makeDir(sockDir); err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("pglocal: socket dir: %w", err)
	}
	s := &Server{cfg: cfg, bins: bins, own: own, sockDir: sockDir, port: cfg.Port}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startLocked(ctx, cfg.Port == 0); err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	return s, nil
}

// Port is the TCP port the server listens on (on 127.0.0.1).
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// URL returns a superuser connection URL for database db.
func (s *Server) URL(db string) string { return URL(s.Port(), db) }

// Stop shuts the server down (fast shutdown: open transactions roll back)
// and waits for it to exit. It kills the server when it has not exited
// when ctx ends or after Config.StopTimeout. Stopping a stopped server is a
// no-op; Restart starts it again.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.stopLocked(ctx)
	os.RemoveAll(s.sockDir)
	return err
}

// Kill kills the server and all its backends at once, like a power cut:
// nothing is flushed, and the next start runs crash recovery.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	p.kill()
	<-p.done
	return nil
}

// Restart stops the server if it runs and starts it again on the same port
// and data directory, waiting until it accepts connections. After Kill it
// is the crash-recovery start.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(ctx); err != nil {
		return err
	}
	if err := s.own.makeDir(s.sockDir); err != nil {
		return fmt.Errorf("pglocal: socket dir: %w", err)
	}
	return s.startLocked(ctx, false)
}

func (s *Server) stopLocked(ctx context.Context) error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	return p.stop(ctx, s.cfg.StopTimeout)
}

// startLocked launches postgres and waits for it to accept connections,
// retrying the failures that are about timing rather than configuration.
// Only the first start may move to another port: clients of a restarted
// server expect it where it was.
func (s *Server) startLocked(ctx context.Context, mayChangePort bool) error {
	ctx, cancel := withDefaultTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	portTries := 0
	for {
		if s.port == 0 {
			port, err := freePort()
			if err != nil {
				return fmt.Errorf("pglocal: pick a port: %w", err)
			}
			s.port = port
		}
		p, err := s.launch()
		if err != nil {
			return err
		}
		err = p.waitReady(ctx, URL(s.port, "postgres"))
		if err == nil {
			s.proc = p
			return nil
		}
		p.kill()
		<-p.done
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("pglocal: start postgres on port %d: %w", s.port, err)
		case mayChangePort && portTries < 3 && p.log.contains("could not bind"):
			// Someone took the free port between our probe and the bind.
			portTries++
			s.port = 0
			continue
		case p.log.contains("pre-existing shared memory block"):
			// Backends of a killed server are still exiting; they will be
			// gone in a moment.
			select {
			case <-retry.C:
				continue
			case <-ctx.Done():
			}
		}
		return fmt.Errorf("pglocal: start postgres on port %d: %w", s.port, err)
	}
}

func (s *Server) settings() map[string]string {
	m := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": s.sockDir,
		"max_connections":         "300",
		"shared_buffers":          "32MB",
		// Parallel query uses dynamic shared memory, which small container
		// /dev/shm mounts cannot hold; tests gain nothing from it.
		"max_parallel_workers_per_gather": "0",
	}
	if s.cfg.Fast {
		m["fsync"] = "off"
		m["synchronous_commit"] = "off"
		m["full_page_writes"] = "off"
	}
	for k, v := range s.cfg.Settings {
		m[k] = v
	}
	return m
}

func (s *Server) launch() (*process, error) {
	args := append([]string{"-D", s.cfg.DataDir, "-p", strconv.Itoa(s.port)}, settingArgs(s.settings())...)
	p, err := startProcess(s.bins.Postgres, args, s.own, newLogWriter(s.cfg.Logger, "postgres"))
	if err != nil {
		return nil, fmt.Errorf("pglocal: start postgres: %w", err)
	}
	return p, nil
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// freePort asks the kernel for a free loopback port. The port is released
// before postgres binds it, hence the retry in startLocked.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sysProcAttr: a new process group so Kill reaches every backend, the
// parent-death signal so the server never outlives us (SIGQUIT is
// postgres' immediate shutdown), and the postgres user's identity when we
// are root.
func sysProcAttr(own *owner) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGQUIT,
		Credential: own.credential(),
	}
}

var errExited = errors.New("postgres exited")
