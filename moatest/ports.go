package moatest

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can take it before you bind it; prefer letting servers
// pick their own port (port 0 or -1) where they can.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("moatest.FreePort: %v", err)
	}
	return ports[0]
}

// freePorts holds all n listeners open until it has them all, so the n
// ports are distinct.
func freePorts(n int) ([]int, error) {
	held, err := holdPorts(n)
	if err != nil {
		return nil, err
	}
	held.releaseAll()
	return held.ports, nil
}

// heldPorts are distinct loopback ports kept bound until they are released,
// one by one, right before the server that needs each binds it: a cluster
// names every peer's port before any server starts, and in between the test
// binds other listeners of its own (proxies) on port 0, which could otherwise
// be given a port just freed (seen in CI: "bind: address already in use", and
// the node never became ready).
type heldPorts struct {
	ports     []int
	listeners []net.Listener
}

func holdPorts(n int) (*heldPorts, error) {
	h := &heldPorts{}
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			h.releaseAll()
			return nil, err
		}
		h.listeners = append(h.listeners, l)
		h.ports = append(h.ports, l.Addr().(*net.TCPAddr).Port)
	}
	return h, nil
}

// release frees port i for its server to bind.
func (h *heldPorts) release(i int) {
	if h.listeners[i] != nil {
		_ = h.listeners[i].Close()
		h.listeners[i] = nil
	}
}

func (h *heldPorts) releaseAll() {
	for i := range h.listeners {
		h.release(i)
	}
}
