package e2etest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/contracts"
)

// client is a WebSocket client of the edge for Go tests: answers are matched to requests by
// id, pushes are collected.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	n      int
	answer map[string]chan frame
	pushes []frame
	more   chan struct{} // signalled when a push arrives
}

type frame struct {
	Type  string           `json:"type"`
	ID    string           `json:"id"`
	Topic string           `json:"topic"`
	Seq   uint64           `json:"seq"`
	Body  json.RawMessage  `json:"body"`
	Error *contracts.Error `json:"error"`
}

func dial(t *testing.T, url, token string) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws, answer: map[string]chan frame{}, more: make(chan struct{}, 1)}
	t.Cleanup(func() { _ = ws.Close() })
	go c.read()
	if f := c.send(map[string]any{"type": "auth", "token": token}); f.Type != "ok" {
		t.Fatalf("auth: %+v", f.Error)
	}
	return c
}

func (c *client) read() {
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		c.mu.Lock()
		if ch, ok := c.answer[f.ID]; ok && f.ID != "" {
			delete(c.answer, f.ID)
			c.mu.Unlock()
			ch <- f
			continue
		}
		if f.Type == "event" || f.Type == "notification" {
			c.pushes = append(c.pushes, f)
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
		c.mu.Unlock()
	}
}

// send sends a frame with a fresh id and waits for its answer.
func (c *client) send(f map[string]any) frame {
	c.t.Helper()
	c.mu.Lock()
	c.n++
	id := fmt.Sprintf("q%d", c.n)
	ch := make(chan frame, 1)
	c.answer[id] = ch
	c.mu.Unlock()
	f["v"], f["id"] = 1, id
	b, _ := json.Marshal(f)
	c.wmu.Lock()
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	c.wmu.Unlock()
	if err != nil {
		c.t.Fatal(err)
	}
	select {
	case a := <-ch:
		return a
	case <-time.After(30 * time.Second):
		c.t.Fatalf("no answer to %s", b)
		return frame{}
	}
}

// call makes a request and decodes the answer into out, failing the test on an error.
func (c *client) call(method string, body, out any) {
	c.t.Helper()
	f := c.send(map[string]any{"type": "req", "method": method, "body": body})
	if f.Type != "ok" {
		c.t.Fatalf("%s: %+v", method, f.Error)
	}
	if out != nil {
		if err := json.Unmarshal(f.Body, out); err != nil {
			c.t.Fatalf("%s: %s: %v", method, f.Body, err)
		}
	}
}

// push waits for a push on topic whose body contains want, and returns it.
func (c *client) push(topic, want string) frame {
	c.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		for i, f := range c.pushes {
			if f.Topic == topic && strings.Contains(string(f.Body), want) {
				c.pushes = append(c.pushes[:i], c.pushes[i+1:]...)
				c.mu.Unlock()
				return f
			}
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			c.t.Fatalf("no %s push containing %q within 30s", topic, want)
		}
	}
}
