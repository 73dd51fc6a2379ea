package edge

import (
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
func (c *conn) enqueue(frame []byte) {
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
	c.queue = append(c.queue, frame)
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	if start {
		go c.writeLoop()
	}
}

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

func (c *conn) write(frame []byte) error {
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
	deadline := time.Now().Add(c.g.cfg.WriteTimeout)
	if err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline); err != nil {
		c.fail()
		return
	}
	// The reader sees the client's close answer (or this deadline) and cleans up.
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
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
