package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
)

// minter mints access tokens with the edge server's issuer key.
type minter struct {
	kid string
	key ed25519.PrivateKey
}

func fetchMinter(admin string) (*minter, error) {
	resp, err := http.Get(admin + "/bench/key")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var k struct{ Kid, Seed string }
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil {
		return nil, err
	}
	seed, err := base64.StdEncoding.DecodeString(k.Seed)
	if err != nil {
		return nil, err
	}
	return &minter{kid: k.Kid, key: ed25519.NewKeyFromSeed(seed)}, nil
}

func (m *minter) token(p contracts.Principal) (string, error) {
	tok, _, err := authn.Issue(m.key, m.kid, p, time.Now(), time.Hour)
	return tok, err
}

// frame is what the load client reads of a server frame.
type frame struct {
	Type  string           `json:"type"`
	ID    string           `json:"id"`
	Topic string           `json:"topic"`
	Seq   uint64           `json:"seq"`
	Body  json.RawMessage  `json:"body"`
	Error *contracts.Error `json:"error"`
}

// wsConn is one load-client connection. After sign-in a reader goroutine hands every frame
// to onFrame with its arrival time.
type wsConn struct {
	ws      *websocket.Conn
	user    contracts.Principal
	wmu     sync.Mutex
	onFrame atomic.Pointer[func(c *wsConn, f *frame, at time.Time)]
	closed  atomic.Bool
	pending sync.Map // id -> chan *frame, for call
	nextID  atomic.Int64
}

var dialer = &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}

// connect dials, reads hello, authenticates and starts the reader.
func connect(url string, m *minter, p contracts.Principal) (*wsConn, error) {
	tok, err := m.token(p)
	if err != nil {
		return nil, err
	}
	ws, _, err := dialer.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	c := &wsConn{ws: ws, user: p}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	var f frame
	if err := ws.ReadJSON(&f); err != nil || f.Type != "hello" {
		ws.Close()
		return nil, fmt.Errorf("hello: %v %+v", err, f)
	}
	if err := c.write(map[string]any{"v": 1, "type": "auth", "id": "a", "token": tok}); err != nil {
		ws.Close()
		return nil, err
	}
	if err := ws.ReadJSON(&f); err != nil || f.Type != "ok" {
		ws.Close()
		return nil, fmt.Errorf("auth: %v %+v %+v", err, f, f.Error)
	}
	_ = ws.SetReadDeadline(time.Time{})
	go c.read()
	return c, nil
}

func (c *wsConn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *wsConn) read() {
	for {
		_, b, err := c.ws.ReadMessage()
		at := time.Now()
		if err != nil {
			c.closed.Store(true)
			return
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		if f.ID != "" {
			if ch, ok := c.pending.LoadAndDelete(f.ID); ok {
				ch.(chan *frame) <- &f
				continue
			}
		}
		if fn := c.onFrame.Load(); fn != nil {
			(*fn)(c, &f, at)
		}
	}
}

// call sends a req frame and waits for its answer.
func (c *wsConn) call(method string, body any, timeout time.Duration) (*frame, error) {
	id := fmt.Sprintf("q%d", c.nextID.Add(1))
	ch := make(chan *frame, 1)
	c.pending.Store(id, ch)
	if err := c.write(map[string]any{"v": 1, "type": "req", "id": id, "method": method, "body": body}); err != nil {
		c.pending.Delete(id)
		return nil, err
	}
	select {
	case f := <-ch:
		if f.Type == "error" {
			return f, fmt.Errorf("%s: %s", method, f.Error.Error())
		}
		return f, nil
	case <-time.After(timeout):
		c.pending.Delete(id)
		return nil, fmt.Errorf("%s: no answer within %s", method, timeout)
	}
}

func (c *wsConn) handle(fn func(c *wsConn, f *frame, at time.Time)) { c.onFrame.Store(&fn) }

func (c *wsConn) close() { _ = c.ws.Close() }

// connectMany opens n connections for the principals made by mk, with `parallel` dials at a
// time.
func connectMany(url string, m *minter, n, parallel int, mk func(i int) contracts.Principal) ([]*wsConn, error) {
	conns := make([]*wsConn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var c *wsConn
			var err error
			for attempt := range 3 { // a loaded machine may refuse a burst of dials
				if c, err = connect(url, m, mk(i)); err == nil {
					break
				}
				time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			}
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
		return nil, err
	}
	return conns, nil
}
