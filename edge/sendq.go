package edge

import (
	"encoding/binary"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// closeGrace is how long, after its close frame was written, a connection waits for the
// client's close frame before the TCP connection is dropped.
const closeGrace = 2 * time.Second

// compressMin is the smallest frame worth compressing when compression was negotiated.
const compressMin = 512

// enqueue queues one encoded frame for the connection's writer and never blocks: the hub
// fans a push out to thousands of connections from one goroutine, and one client that does
// not read must not delay the others. A full queue closes the connection as a slow consumer.
func (c *conn) enqueue(frame []byte) { c.enqueueWire(frame, nil) }

// enqueueWire is enqueue with the frame's WebSocket encoding (wireText) when the caller has
// it: the hub encodes a push once for all its connections.
//
// A connection with nothing queued and no writer running is written to at once, on the
// caller's goroutine, with one non-blocking write of the encoded frame (writeNow): a push to
// an idle connection then costs one system call instead of a writer goroutine, a write
// deadline and a pooled buffer. What the socket does not take at once is left to the writer.
func (c *conn) enqueueWire(frame, wire []byte) {
	c.qmu.Lock()
	if c.closeReq || c.dead {
		c.qmu.Unlock()
		return
	}
	if len(c.queue) >= c.g.cfg.SendQueue {
		c.queue = nil // what it could not read is dropped; it must resync after reconnecting
		c.qmu.Unlock()
		c.g.metrics.slow.Inc()
		c.closeWith(protocol.CloseSlowConsumer, contracts.ErrSlowConsumer)
		return
	}
	if !c.writing && c.raw != nil && (!c.compress || len(frame) < compressMin) {
		c.writing = true
		c.qmu.Unlock()
		switch c.writeNow(frame, wire) {
		case wroteAll:
			c.writerDone(false)
			return
		case wrotePart:
			c.writerDone(true)
			return
		}
		c.qmu.Lock()
		if c.closeReq || c.dead {
			c.qmu.Unlock()
			c.writerDone(false)
			return
		}
		c.queue = append(c.queue, frame)
		c.qmu.Unlock()
		go c.writeLoop()
		return
	}
	c.queue = append(c.queue, frame)
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// writerDone gives up the right to write after an immediate write, handing over to a writer
// goroutine when the write left a rest (pending) or frames (or a close) were queued meanwhile.
func (c *conn) writerDone(pending bool) {
	c.qmu.Lock()
	more := !c.dead && (pending || len(c.queue) > 0 || (c.closeReq && !c.closeSent))
	if !more {
		c.writing = false
	}
	c.qmu.Unlock()
	if more {
		go c.writeLoop()
	}
}

// writeNowResult says what writeNow did with a frame.
type writeNowResult uint8

const (
	wroteNone writeNowResult = iota // nothing: the frame must be queued
	wroteAll                        // written whole (or the connection failed and is dropped)
	wrotePart                       // written in part, the rest is in c.pending for the writer
)

// writeNow writes frame (wire: its encoding, or nil) with one non-blocking system call; the
// caller holds the right to write (c.writing).
func (c *conn) writeNow(frame, wire []byte) writeNowResult {
	if !c.wmu.TryLock() {
		return wroteNone // a control frame (pong, close) is being written on the reader's goroutine
	}
	defer c.wmu.Unlock()
	if c.pending != nil {
		return wroteNone
	}
	if wire == nil {
		if len(frame) == 0 {
			wire = wirePing
		} else {
			wire = wireText(frame)
		}
	}
	// Control, not Write: RawConn.Write refuses at once when the write deadline gorilla set
	// for an earlier write has passed, and this write does not block, so it needs none.
	w := rawWrites.Get().(*rawWrite)
	w.b = wire
	if err := c.raw.Control(w.fn); err != nil {
		w.err = err
	}
	n, werr := w.n, w.err
	w.b, w.n, w.err = nil, 0, nil
	rawWrites.Put(w)
	switch {
	case werr == syscall.EAGAIN:
		return wroteNone // the socket's buffer is full: the writer waits for it
	case werr != nil:
		c.fail()
		return wroteAll
	}
	if len(frame) > 0 {
		c.g.metrics.framesOut.Inc()
	}
	if n < len(wire) {
		c.pending = wire[n:] // wire is shared with other connections but never written to
		return wrotePart
	}
	return wroteAll
}

// rawWrite is one non-blocking write, done inside RawConn.Control. A closure passed to Control
// escapes, with what it captures: pooled, it is not allocated for every push.
type rawWrite struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) // w.do, bound once
}

var rawWrites = sync.Pool{New: func() any {
	w := &rawWrite{}
	w.fn = w.do
	return w
}}

func (w *rawWrite) do(fd uintptr) {
	for {
		w.n, w.err = syscall.Write(int(fd), w.b)
		if w.err != syscall.EINTR {
			return
		}
	}
}

// flushPending writes what an immediate write left over, before anything else goes out;
// c.wmu is held.
func (c *conn) flushPending(deadline time.Time) error {
	if c.pending == nil {
		return nil
	}
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(deadline)
	_, err := nc.Write(c.pending)
	c.pending = nil
	return err
}

// wireText encodes payload as one unmasked, uncompressed WebSocket text frame (RFC 6455
// 5.2), as a server sends it.
func wireText(payload []byte) []byte {
	h := wireHeader(len(payload))
	b := make([]byte, len(h), len(h)+len(payload))
	copy(b, h)
	return append(b, payload...)
}

// maxWireHeader is the longest header wireHeader returns.
const maxWireHeader = 10

// wireHeader is the header of a text frame of n bytes: FIN, opcode 1, no mask, the length.
func wireHeader(n int) []byte {
	var b [maxWireHeader]byte
	b[0] = 0x81
	switch {
	case n <= 125:
		b[1] = byte(n)
		return b[:2]
	case n <= 0xffff:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		return b[:4]
	}
	b[1] = 127
	binary.BigEndian.PutUint64(b[2:], uint64(n))
	return b[:10]
}

// wirePing is a WebSocket ping frame without payload.
var wirePing = []byte{0x89, 0x00}

// send encodes and queues a frame.
func (c *conn) send(f protocol.ServerFrame) {
	b, err := protocol.Encode(f)
	if err != nil {
		c.g.log.Error("encoding a frame failed", "type", f.Type, "error", err)
		b, _ = protocol.Encode(protocol.ErrorFrame(f.ID, contracts.ErrInternal.Msg("the answer could not be encoded")))
	}
	c.enqueue(b)
}

// sendError answers a frame with an error frame.
func (c *conn) sendError(id string, err error) { c.send(protocol.ErrorFrame(id, err)) }

// writeLoop runs only while there is something to write: an idle connection has no writer
// goroutine and no write buffer (they come from a pool), which keeps idle connections small.
func (c *conn) writeLoop() {
	for {
		c.wmu.Lock()
		err := c.flushPending(time.Now().Add(c.g.cfg.WriteTimeout))
		c.wmu.Unlock()
		if err != nil {
			c.fail()
		}
		c.qmu.Lock()
		if c.dead || len(c.queue) == 0 {
			if !c.dead && c.closeReq && !c.closeSent {
				c.closeSent = true
				code, why := c.closeCode, c.closeWhy
				c.qmu.Unlock()
				c.writeClose(code, why)
				continue
			}
			c.writing = false
			c.qmu.Unlock()
			return
		}
		frame := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = nil // let the backing array go while idle
		}
		c.qmu.Unlock()
		if err := c.write(frame); err != nil {
			c.fail()
		}
	}
}

// write writes one frame through gorilla, after what an immediate write left over.
func (c *conn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushPending(time.Now().Add(c.g.cfg.WriteTimeout)); err != nil {
		return err
	}
	if len(frame) == 0 {
		return c.writePing()
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.g.cfg.WriteTimeout))
	if c.compress {
		c.ws.EnableWriteCompression(len(frame) >= compressMin)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return err
	}
	c.g.metrics.framesOut.Inc()
	return nil
}

// writeClose writes the bye frame and the close frame, then gives the client closeGrace to
// answer before the TCP connection is dropped.
func (c *conn) writeClose(code int, why *contracts.Error) {
	bye, _ := protocol.Encode(protocol.ServerFrame{Type: protocol.TypeBye, Reason: why.Message,
		Error: &contracts.Error{Code: why.Code, Kind: why.Kind, Message: why.Message}})
	if err := c.write(bye); err != nil {
		c.fail()
		return
	}
	reason := why.Code
	if len(reason) > 120 { // a close reason has at most 123 bytes
		reason = reason[:120]
	}
	if err := c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), c.g.cfg.WriteTimeout); err != nil {
		c.fail()
		return
	}
	// The reader sees the client's close answer (or this deadline) and cleans up.
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
}

// writeControl writes a control frame (ping, pong, close) after what an immediate write left
// over. Every write to the socket holds c.wmu: the hub writes to idle connections directly
// (writeNow), and gorilla's own lock does not cover those writes.
func (c *conn) writeControl(messageType int, data []byte, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushPending(deadline); err != nil {
		return err
	}
	return c.ws.WriteControl(messageType, data, deadline)
}

// controlWait is how long the answer to a client's ping or close may take to write, as in
// gorilla's own handlers.
const controlWait = time.Second

// answerPing and answerClose replace gorilla's default handlers, which write without c.wmu.
// A pong that could not be written may have left part of a frame on the wire: gorilla then
// refuses every later write, but writeNow does not go through gorilla, so the connection is
// dropped here.
func (c *conn) answerPing(data string) error {
	if err := c.writeControl(websocket.PongMessage, []byte(data), controlWait); err != nil && err != websocket.ErrCloseSent {
		c.fail()
	}
	return nil
}

// answerClose echoes the client's close. Nothing may follow the close frame, and the reader
// ends the connection right after, so the send queue is closed first.
func (c *conn) answerClose(code int, _ string) error {
	c.qmu.Lock()
	c.dead = true
	c.queue = nil
	c.qmu.Unlock()
	_ = c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), controlWait)
	return nil
}

// closeWith starts closing the connection with a close code and the reason the client sees,
// after the frames already queued (all of them are dropped for a slow consumer). A connection
// that cannot take even that much is dropped when the write deadline passes.
func (c *conn) closeWith(code int, why *contracts.Error) {
	c.qmu.Lock()
	if c.closeReq || c.dead {
		c.qmu.Unlock()
		return
	}
	c.closeReq, c.closeCode, c.closeWhy = true, code, why
	if code == protocol.CloseSlowConsumer {
		c.queue = nil
	}
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	c.g.metrics.closes.WithLabelValues(closeLabel(code)).Inc()
	if start {
		go c.writeLoop()
	}
	time.AfterFunc(c.g.cfg.WriteTimeout+closeGrace, func() { _ = c.ws.NetConn().Close() })
}

// fail marks the connection broken after a failed write and drops it; the reader notices and
// cleans up.
func (c *conn) fail() {
	c.qmu.Lock()
	c.dead = true
	c.queue = nil
	c.qmu.Unlock()
	_ = c.ws.NetConn().Close()
}

func (c *conn) closing() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.closeReq || c.dead
}
