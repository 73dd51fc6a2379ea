package edge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// connState is where a connection is in its session.
type connState uint8

const (
	stateNew       connState = iota // connected, no auth frame yet
	stateAnonymous                  // chose to stay anonymous: public calls only
	stateUser                       // authenticated with an access token
)

// maxAuthFailures is how many failed auth frames a connection may send before it is closed.
const maxAuthFailures = 3

// maxRoomsPerConn bounds the room topics one connection listens to.
const maxRoomsPerConn = 100

// conn is one client WebSocket. Its reader goroutine waits for frames, which are decoded and
// dispatched one at a time; writes go through the send queue (sendq.go); calls run in their
// own goroutines, bounded by Config.MaxInflight.
type conn struct {
	g        *Gateway
	ws       *websocket.Conn
	compress bool
	id       uint64        // per gateway, for ping buckets and the viewer id
	br       *bufio.Reader // gorilla's read buffer (idle.go)
	// raw is the plain TCP socket (nil for anything else, TLS included): idle.go waits on it
	// for readability, and the push path writes whole frames to it directly (sendq.go's
	// writeNow), which is only right because it is never an encrypted connection.
	raw syscall.RawConn

	// Frame-handling state: frames are handled one at a time, so no lock is needed.
	limiter      bucket
	strikes      int
	authFailures int

	inflight atomic.Int32

	// subMu serializes subscribing to rooms (which waits for NATS) with cleanup, so that
	// nothing is subscribed after cleanup unsubscribed everything.
	subMu sync.Mutex
	left  bool // cleanup ran; guarded by subMu

	mu        sync.Mutex
	state     connState
	principal contracts.Principal
	token     string
	expiresAt time.Time
	warned    bool                 // the expiring frame for expiresAt was sent
	authDue   time.Time            // the auth deadline, while state is stateNew
	calls     []*inflight          // calls in flight, canceled when the connection ends
	rooms     map[string]*roomInfo // guarded by mu; changed only with subMu held too
	presence  map[string]int       // sellers whose presence is watched -> rooms needing it
	ended     bool

	// wmu is held by whoever writes to the socket; pending is what an immediate write
	// (writeNow) left unwritten, written first by the next writer. Guarded by wmu.
	wmu     sync.Mutex
	pending []byte

	qmu       sync.Mutex
	queue     [][]byte
	writing   bool
	closeReq  bool
	closeSent bool
	closeCode int
	closeWhy  *contracts.Error
	dead      bool
}

// inflight is a call made for the connection. Calls get their own contexts instead of
// children of a per-connection one: an idle connection then holds no context, done channel or
// children map.
type inflight struct{ cancel context.CancelFunc }

// roomInfo is a room the connection listens to, as chat.v1.room described it.
type roomInfo struct {
	sellerID string
	typingAt time.Time
	watching bool // the seller's presence is watched for this room
}

// userID returns the connection's user, "" when not signed in.
func (c *conn) userID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateUser {
		return ""
	}
	return c.principal.UserID
}

// identity returns what calls are made with: the state, the principal and its token.
func (c *conn) identity() (connState, contracts.Principal, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.principal, c.token
}

// readLoop reads frames until the connection ends, then releases everything it held.
//
// The goroutine only waits for the next message; reading, decoding and handling it run on a
// short-lived goroutine while this one waits. An idle connection is this goroutine blocked
// in NextReader, and a goroutine stack, once grown, never shrinks below four times what it
// uses: keeping the deep work (JSON, token checks, decompression) off it keeps every idle
// connection at the minimum 2 KiB stack instead of 4 or 8.
func (c *conn) readLoop() {
	defer c.cleanup()
	for {
		if c.waitReadable() != nil {
			return
		}
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		done := make(chan bool, 1) // per frame: an idle connection holds none
		go func() { done <- c.readAndHandle(mt, r) }()
		if !<-done {
			return
		}
	}
}

// readAndHandle reads one message and handles it; false ends the connection.
func (c *conn) readAndHandle(mt int, r io.Reader) bool {
	if mt != websocket.TextMessage {
		c.closeWith(protocol.CloseUnsupported, contracts.ErrBadRequest.Msg("frames are JSON text; binary messages are not accepted"))
		return true
	}
	data, err := readFrame(r, c.g.cfg.MaxFrameBytes)
	if errors.Is(err, errFrameTooBig) {
		c.closeWith(protocol.CloseTooBig, contracts.ErrPayloadTooBig.Msg("a frame may have at most %d bytes", c.g.cfg.MaxFrameBytes))
		return true
	}
	if err != nil {
		return false
	}
	if c.closing() {
		return true // after the close frame, only the client's close answer matters
	}
	if !utf8.Valid(data) {
		// RFC 6455 8.1: a text message that is not UTF-8 fails the connection with 1007.
		c.closeWith(websocket.CloseInvalidFramePayloadData, contracts.ErrBadRequest.Msg("text frames must be valid UTF-8"))
		return true
	}
	c.g.metrics.framesIn.Inc()
	_ = c.ws.SetReadDeadline(time.Now().Add(c.g.idleTimeout()))
	c.handle(data)
	return true
}

var errFrameTooBig = errors.New("frame too big")

// readFrame reads one message of at most max bytes. The WebSocket read limit bounds the bytes
// on the wire; this bounds what they decompress to, so a small compressed frame cannot
// inflate into a huge one.
func readFrame(r io.Reader, max int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			return nil, errFrameTooBig
		}
		return nil, err
	}
	if len(data) > max {
		return nil, errFrameTooBig
	}
	return data, nil
}

// handle decodes one frame, applies the rate limit, and dispatches it.
func (c *conn) handle(data []byte) {
	f, err := protocol.Decode(data)
	if !c.limiter.allow(time.Now(), c.g.cfg.RatePerSec, c.g.cfg.Burst) {
		c.strikes++
		if c.strikes > c.g.cfg.MaxStrikes {
			c.closeWith(protocol.CloseRateLimited, contracts.ErrRateLimited.Msg("frames kept coming over the rate limit"))
			return
		}
		c.g.metrics.limited.Inc()
		c.sendError(f.ID, contracts.ErrRateLimited.Msg("at most %g frames per second (bursts of %d); this frame was not processed",
			c.g.cfg.RatePerSec, c.g.cfg.Burst))
		return
	}
	c.strikes = 0
	if err != nil {
		c.sendError(f.ID, err)
		return
	}
	switch f.Type {
	case protocol.TypePing:
		c.send(protocol.ServerFrame{Type: protocol.TypePong, ID: f.ID})
		return
	case protocol.TypeAuth:
		c.handleAuth(f)
		return
	case protocol.TypeRefresh:
		c.handleRefresh(f)
		return
	}
	state, _, _ := c.identity()
	if state == stateNew {
		c.sendError(f.ID, contracts.ErrUnauthenticated.Msg("send an auth frame first (with a token, or anonymous)"))
		return
	}
	switch f.Type {
	case protocol.TypeRequest:
		c.goCall(f.ID, func() { c.handleRequest(f) })
	case protocol.TypeResume:
		c.goCall(f.ID, func() { c.handleResume(f) })
	case protocol.TypeSubscribe:
		c.goCall(f.ID, func() { c.handleSubscribe(f) })
	case protocol.TypeUnsubscribe:
		c.handleUnsubscribe(f)
	case protocol.TypeTyping:
		c.handleTyping(f)
	}
}

// goCall runs fn in its own goroutine within the connection's in-flight bound.
func (c *conn) goCall(id string, fn func()) {
	if int(c.inflight.Add(1)) > c.g.cfg.MaxInflight {
		c.inflight.Add(-1)
		c.sendError(id, contracts.ErrBusy.Msg("at most %d calls in flight per connection", c.g.cfg.MaxInflight))
		return
	}
	go func() {
		defer c.inflight.Add(-1)
		fn()
	}()
}

// cleanup runs once when the reader stops: the connection is gone.
func (c *conn) cleanup() {
	c.qmu.Lock()
	c.dead = true
	c.queue = nil
	c.qmu.Unlock()
	_ = c.ws.Close()

	c.mu.Lock()
	c.ended = true
	state, p := c.state, c.principal
	calls := c.calls
	c.calls = nil
	c.mu.Unlock()
	for _, call := range calls {
		call.cancel() // a room subscription waiting for chat.v1.room gives up
	}

	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.left = true
	c.mu.Lock()
	rooms, presence := c.rooms, c.presence
	c.rooms, c.presence = nil, nil
	c.mu.Unlock()

	for room := range rooms {
		if s, err := contracts.PushRoomSubject(room); err == nil {
			c.g.hub.leave(s, c)
		}
	}
	for seller := range presence {
		c.unwatch(seller)
	}
	if state == stateUser {
		c.g.userLeft(c, p)
	}
	c.g.connDone(c)
}
