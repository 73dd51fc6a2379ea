package moatest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// envNATSProcess, in a child's environment, makes [Main] run a nats-server (configured by the
// JSON value) instead of the tests, until the parent kills it.
const envNATSProcess = "MOATEST_NATS_PROCESS"

// natsProcConfig is what the child's server takes from the parent's options.
type natsProcConfig struct {
	Port         int           `json:"port"`
	StoreDir     string        `json:"store_dir"`
	SyncAlways   bool          `json:"sync_always"`
	SyncInterval time.Duration `json:"sync_interval"`
	MaxPayload   int32         `json:"max_payload"`
}

// NATSProcess is a nats-server with JetStream in its own process (this test binary,
// re-executed), so that a test can kill it with SIGKILL: no shutdown code runs, nothing is
// flushed, exactly as when the process is killed by the OOM killer or kill -9. Only the
// options' port, store dir, sync and max payload settings reach the child.
//
// The package's TestMain must call [Main], which is where the child becomes the server.
type NATSProcess struct {
	t   testing.TB
	cfg natsProcConfig

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// NATSProc starts a nats-server process (file storage in t.TempDir()) on a free loopback port
// and kills it when the test ends.
func NATSProc(t testing.TB, opts ...Option) *NATSProcess {
	t.Helper()
	o := &server.Options{Port: server.RANDOM_PORT, StoreDir: t.TempDir()}
	for _, opt := range opts {
		opt(o)
	}
	n := &NATSProcess{t: t, cfg: natsProcConfig{
		Port: o.Port, StoreDir: o.StoreDir, SyncAlways: o.SyncAlways, SyncInterval: o.SyncInterval, MaxPayload: o.MaxPayload,
	}}
	t.Cleanup(n.Kill)
	n.Start()
	return n
}

// StoreDir is the JetStream store, which survives Kill and is reused by Start.
func (n *NATSProcess) StoreDir() string { return n.cfg.StoreDir }

// URL is the client URL, nats://127.0.0.1:port. It survives Kill and Start.
func (n *NATSProcess) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.cfg.Port) }

// Conn connects to the server and closes the connection when the test ends. It reconnects
// forever, every 20 ms, so it outlives a kill and a start.
func (n *NATSProcess) Conn(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, n.URL(), opts)
}

// Start starts the server process (again, after Kill) on the same port and store dir, and
// waits until it accepts clients.
func (n *NATSProcess) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.t.Fatal("moatest: nats-server process already running")
	}
	cfg, _ := json.Marshal(n.cfg)
	// -test.run=^$ runs no test if the TestMain does not call Main: the child then exits
	// without "ready", and the failure says why.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNATSProcess+"="+string(cfg))
	cmd.Stderr = os.Stderr
	// The child exits when this pipe closes: a test binary that dies (a timeout's panic, a
	// kill) leaves no server behind.
	if _, err := cmd.StdinPipe(); err != nil {
		n.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("moatest: start nats-server process: %v", err)
	}
	ready := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "MOATEST-NATS: ready "); ok {
				ready <- port
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case port := <-ready:
		n.cfg.Port, _ = strconv.Atoi(port) // restarts come back where clients reconnect to
	case <-exited:
		n.t.Fatalf("moatest: nats-server process exited before it was ready (does the package's TestMain call moatest.Main?)")
	case <-time.After(natsStartTimeout):
		_ = cmd.Process.Kill()
		<-exited
		n.t.Fatalf("moatest: nats-server process not ready within %s", natsStartTimeout)
	}
	n.cmd, n.exited = cmd, exited
}

// Kill sends SIGKILL to the server process and waits until it is gone. It is idempotent, and
// runs at cleanup anyway.
func (n *NATSProcess) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.cmd = nil
}

// serveNATSProcess is the child's side: run the server, report its port, run until killed or
// until the parent is gone (stdin closes).
func serveNATSProcess(raw string) {
	var c natsProcConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		fmt.Fprintf(os.Stderr, "moatest: %s: %v\n", envNATSProcess, err)
		os.Exit(2)
	}
	o := &server.Options{
		ServerName: "moatest", Host: "127.0.0.1", Port: c.Port, JetStream: true, StoreDir: c.StoreDir,
		SyncAlways: c.SyncAlways, SyncInterval: c.SyncInterval, MaxPayload: c.MaxPayload, NoLog: true, NoSigs: true,
	}
	log := &natsLog{}
	srv, err := startNATS(o, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "moatest: nats-server process: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("MOATEST-NATS: ready %d\n", srv.Addr().(*net.TCPAddr).Port)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}
