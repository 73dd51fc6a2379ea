package moatest_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/moa-run/moa/moatest"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line and waits up to d for it to come back.
func roundTrip(c net.Conn, r *bufio.Reader, d time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("echo garbled: " + line)
	}
	return nil
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

func TestProxyFreezeCutRestore(t *testing.T) {
	p := moatest.NewProxy(t, echoServer(t))
	c, r := dial(t, p.Addr())
	if err := roundTrip(c, r, 5*time.Second); err != nil {
		t.Fatalf("through a passing proxy: %v", err)
	}

	// Frozen: the connection stays open, writes succeed, nothing comes back.
	p.Freeze()
	if err := roundTrip(c, r, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("through a frozen proxy: %v; want silence (a read timeout)", err)
	}
	// A connection made while frozen is accepted and silent too.
	c2, r2 := dial(t, p.Addr())
	if err := roundTrip(c2, r2, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection through a frozen proxy: %v; want silence", err)
	}

	// Restored: what lived through the fault is closed, new connections pass.
	p.Restore()
	if err := roundTrip(c, r, 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("old connection after restore: %v; want it closed", err)
	}
	c3, r3 := dial(t, p.Addr())
	if err := roundTrip(c3, r3, 5*time.Second); err != nil {
		t.Fatalf("new connection after restore: %v", err)
	}

	// Cut: connections are closed, and new ones closed at once.
	p.Cut()
	if err := roundTrip(c3, r3, 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection through a cut proxy: %v; want it closed", err)
	}
	c4, r4 := dial(t, p.Addr())
	if err := roundTrip(c4, r4, 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection through a cut proxy: %v; want it closed", err)
	}
	p.Restore()
	c5, r5 := dial(t, p.Addr())
	if err := roundTrip(c5, r5, 5*time.Second); err != nil {
		t.Fatalf("new connection after the cut is restored: %v", err)
	}
}
