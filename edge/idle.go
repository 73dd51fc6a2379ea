package edge

import (
	"bufio"
	"net"
	"net/http"
	"syscall"
)

// An idle connection is its reader goroutine waiting for the client's next frame, and what
// that costs is mostly the goroutine's stack. Waiting inside gorilla's NextReader is a deep
// call chain, deep enough that Go's adaptive initial stack size (the average of the stacks it
// sees, plus a guard) tips over to 4 KiB, and a 4 KiB stack is never shrunk back. So the
// reader waits for the socket to become readable first, a few frames deep, and only then
// calls NextReader, which finds the data already there.

// hijacker hands gorilla a bufio.Reader the edge owns, so the edge can tell whether gorilla
// already holds buffered bytes (then there is nothing to wait for).
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

// readerSize is the connection's read buffer; gorilla reuses a hijacked reader only if it is
// larger than 256 bytes.
const readerSize = 512

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if rw.Reader.Buffered() > 0 {
		// The client spoke before the handshake finished; gorilla refuses that itself.
		return nc, rw, nil
	}
	h.br = bufio.NewReaderSize(nc, readerSize)
	return nc, bufio.NewReadWriter(h.br, rw.Writer), nil
}

// waitReadable blocks until the socket has data (or its read deadline passes), unless the
// buffer already holds some. Data that arrived earlier is seen by peeking (readable), not by
// a readiness event: the poller's events are edge-triggered, and one that came before the
// wait began is not repeated.
func (c *conn) waitReadable() error {
	if c.br == nil || c.raw == nil || c.br.Buffered() > 0 {
		return nil
	}
	return c.raw.Read(readable)
}

// rawConn returns the socket's raw connection, for waitReadable.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
