// Package wsconn is a client of the edge protocol (docs/protocol.md) for load generators: one
// WebSocket, answers matched to their requests by id, pushes handed to a callback with their
// arrival time. `moa load` and edge/cmd/edgeload both drive the edge with it.
package wsconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/contracts"
)

// Frame is what a load client reads of a server frame.
type Frame struct {
	Type  string           `json:"type"`
	ID    string           `json:"id"`
	Topic string           `json:"topic"`
	Seq   uint64           `json:"seq"`
	Body  json.RawMessage  `json:"body"`
	Error *contracts.Error `json:"error"`
}

// ErrNoAnswer is the code of a request that got no answer in time (the edge's own codes are
// contracts error codes).
const ErrNoAnswer = "no_answer"

// Conn is one connection. After Dial a reader goroutine routes answers to their requests and
// hands every other frame to the handler.
type Conn struct {
	ws      *websocket.Conn
	User    contracts.Principal // set by the caller after auth, for its own bookkeeping
	wmu     sync.Mutex
	onFrame atomic.Pointer[func(c *Conn, f *Frame, at time.Time)]
	closed  atomic.Bool
	pending sync.Map // id -> chan *Frame
	nextID  atomic.Int64
}

var dialer = &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}

// Dial opens a connection to url (ws://host/ws), reads the hello and starts the reader.
func Dial(url string) (*Conn, error) {
	ws, _, err := dialer.Dial(url, http.Header{})
	if err != nil {
		return nil, err
	}
	c := &Conn{ws: ws}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	var f Frame
	if err := ws.ReadJSON(&f); err != nil || f.Type != "hello" {
		ws.Close()
		return nil, fmt.Errorf("hello: %v %+v", err, f)
	}
	_ = ws.SetReadDeadline(time.Time{})
	go c.read()
	return c, nil
}

// Auth signs the connection in with an access token.
func (c *Conn) Auth(token string, timeout time.Duration) error {
	_, err := c.Request(map[string]any{"type": "auth", "token": token}, timeout)
	return err
}

// AuthAnonymous starts an anonymous session (public calls only).
func (c *Conn) AuthAnonymous(timeout time.Duration) error {
	_, err := c.Request(map[string]any{"type": "auth", "anonymous": true}, timeout)
	return err
}

// Call sends a req frame and waits for its answer. A failure answer is returned as its
// *contracts.Error, no answer in time as a contracts.Error with code ErrNoAnswer.
func (c *Conn) Call(method string, body any, timeout time.Duration) (*Frame, error) {
	return c.Request(map[string]any{"type": "req", "method": method, "body": body}, timeout)
}

// Request sends a client frame (v and id are added) and waits for the answer.
func (c *Conn) Request(fr map[string]any, timeout time.Duration) (*Frame, error) {
	id := fmt.Sprintf("q%d", c.nextID.Add(1))
	fr["v"], fr["id"] = 1, id
	ch := make(chan *Frame, 1)
	c.pending.Store(id, ch)
	if err := c.Write(fr); err != nil {
		c.pending.Delete(id)
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f := <-ch:
		if f.Type == "error" {
			if f.Error == nil {
				return f, &contracts.Error{Code: "bad_answer", Message: "error frame without error"}
			}
			return f, f.Error
		}
		return f, nil
	case <-t.C:
		c.pending.Delete(id)
		return nil, &contracts.Error{Code: ErrNoAnswer, Kind: contracts.KindTimeout, Message: fmt.Sprintf("%v: no answer within %s", fr["type"], timeout)}
	}
}

// Write sends one frame as JSON.
func (c *Conn) Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *Conn) read() {
	for {
		_, b, err := c.ws.ReadMessage()
		at := time.Now()
		if err != nil {
			c.closed.Store(true)
			c.pending.Range(func(k, v any) bool {
				if _, ok := c.pending.LoadAndDelete(k); ok {
					v.(chan *Frame) <- &Frame{Type: "error", ID: k.(string), Error: &contracts.Error{Code: "connection_closed", Kind: contracts.KindUnavailable, Message: err.Error()}}
				}
				return true
			})
			return
		}
		var f Frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		if f.ID != "" {
			if ch, ok := c.pending.LoadAndDelete(f.ID); ok {
				ch.(chan *Frame) <- &f
				continue
			}
		}
		if fn := c.onFrame.Load(); fn != nil {
			(*fn)(c, &f, at)
		}
	}
}

// Handle sets the function that receives every frame that is not an answer.
func (c *Conn) Handle(fn func(c *Conn, f *Frame, at time.Time)) { c.onFrame.Store(&fn) }

// Closed reports whether the reader saw the connection end.
func (c *Conn) Closed() bool { return c.closed.Load() }

// Close closes the connection.
func (c *Conn) Close() { _ = c.ws.Close() }

// Code is the stable error code of err: a *contracts.Error's code, "transport" otherwise.
func Code(err error) string {
	var ce *contracts.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return "transport"
}

// Latencies collects samples from many goroutines.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one sample.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Len is the number of samples.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Summary returns the count, p50, p99 and max. Percentiles are nearest-rank: the p99 of
// fewer than 100 samples is their max, never an interpolation below it.
func (l *Latencies) Summary() (n int, p50, p99, slowest time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0, 0, 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[max(0, int(math.Ceil(q*float64(len(s))))-1)] }
	return len(s), at(0.50), at(0.99), s[len(s)-1]
}
