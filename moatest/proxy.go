package moatest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of one address, which a test can freeze or
// cut: a network fault between two real components, on loopback, with no
// root and no network namespace.
//
//   - Freeze keeps every connection open but passes nothing either way, and
//     accepts new connections only to pass nothing on them: what a peer sees
//     of a server that is SIGSTOPped or on the far side of a partition (no
//     RST, no FIN, just silence, until its own pings give up).
//   - Cut closes every connection and closes each new one at once: a
//     crashed host, or a firewall that rejects.
//   - Restore passes traffic again. The connections that lived through a
//     fault lost bytes in the middle of their stream, so they are closed
//     and their clients reconnect, as they would after a real one.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	state  proxyState
	conns  map[net.Conn]struct{} // both ends of every live connection
	faulty map[net.Conn]struct{} // connections that lived through a fault
	closed bool
}

type proxyState int

const (
	proxyPass proxyState = iota
	proxyFrozen
	proxyCut
)

// NewProxy starts a proxy on a free loopback port that forwards to target
// (host:port). It stops, closing its connections, when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("moatest.NewProxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, faulty: map[net.Conn]struct{}{}}
	t.Cleanup(p.close)
	go p.accept()
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's address as a NATS client URL.
func (p *Proxy) URL() string { return "nats://" + p.Addr() }

// Freeze silences the proxy (see Proxy).
func (p *Proxy) Freeze() { p.set(proxyFrozen) }

// Cut closes the proxy's connections and refuses new ones (see Proxy).
func (p *Proxy) Cut() { p.set(proxyCut) }

// Restore passes traffic again (see Proxy).
func (p *Proxy) Restore() { p.set(proxyPass) }

func (p *Proxy) set(s proxyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = s
	switch s {
	case proxyFrozen:
		for c := range p.conns {
			p.faulty[c] = struct{}{}
		}
	case proxyCut:
		for c := range p.conns {
			_ = c.Close()
		}
	case proxyPass:
		for c := range p.faulty {
			_ = c.Close()
		}
		clear(p.faulty)
	}
}

func (p *Proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

// serve connects one accepted connection to the target, unless the proxy is
// faulty: cut closes it, frozen holds it open and swallows what it sends.
func (p *Proxy) serve(c net.Conn) {
	p.mu.Lock()
	state, closed := p.state, p.closed
	if !closed && state != proxyCut {
		p.track(c)
		if state == proxyFrozen {
			p.faulty[c] = struct{}{}
		}
	}
	p.mu.Unlock()
	switch {
	case closed || state == proxyCut:
		_ = c.Close()
		return
	case state == proxyFrozen:
		_, _ = io.Copy(io.Discard, c)
		p.untrack(c)
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		p.untrack(c)
		return
	}
	p.mu.Lock()
	if p.closed || p.state == proxyCut {
		p.mu.Unlock()
		_ = c.Close()
		_ = s.Close()
		p.untrack(c)
		return
	}
	p.track(s)
	if p.state == proxyFrozen {
		p.faulty[s] = struct{}{}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(s, c) })
	wg.Go(func() { p.pipe(c, s) })
	wg.Wait()
	p.untrack(c)
	p.untrack(s)
}

// pipe copies src to dst while the proxy passes, and reads and drops while
// it is frozen, so the sender sees neither back-pressure nor an error, only
// silence. Either end closing closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer func() {
		_ = dst.Close()
		_ = src.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		frozen := p.state != proxyPass
		p.mu.Unlock()
		if frozen {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// track and untrack are called with p.mu held (track) or not (untrack).
func (p *Proxy) track(c net.Conn) { p.conns[c] = struct{}{} }

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	delete(p.faulty, c)
}
