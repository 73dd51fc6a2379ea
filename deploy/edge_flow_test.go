package deploy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/contracts"
)

// edgeFlow drives the real edge (`moa serve edge` under its NATS user) the way the demo page
// does, after the saga and chat flows: the buyer resumes its notifications, calls a service
// and listens to the chat room; the seller comes online (the edge writes its claim to the
// presence bucket and tells the other instances on push.presence), types (push.room) and gets
// the buyer's message pushed (push.user).
func edgeFlow(t *testing.T, edgeURL string, m market, roomID string) {
	t.Helper()
	ws := "ws" + strings.TrimPrefix(strings.TrimSuffix(edgeURL, "/"), "http") + "/ws"
	buyer := dialEdge(t, ws, m.Buyer.Token)
	resumed := buyer.call(t, map[string]any{"type": "resume", "since": 0})
	var since contracts.NotifySinceResp
	if err := json.Unmarshal(resumed, &since); err != nil || since.LastSeq != 3 || len(since.Items) != 3 {
		t.Errorf("resume: %s (%v): want the saga's 3 notifications (notify.v1.since)", resumed, err)
	}
	mine := buyer.call(t, map[string]any{"type": "req", "method": "subscription.mine"})
	if !strings.Contains(string(mine), `"state":"CANCELLED"`) {
		t.Errorf("subscription.mine through the edge: %s", mine)
	}
	room := buyer.call(t, map[string]any{"type": "subscribe", "topic": "room:" + roomID})
	if !strings.Contains(string(room), `"online":false`) {
		t.Errorf("subscribe to the room: %s, want the seller offline", room)
	}

	seller := dialEdge(t, ws, m.Seller.Token)
	buyer.await(t, "the seller's presence (presence bucket, push.presence)", func(f edgeFrame) bool {
		return f.Type == "event" && f.Topic == "presence" && strings.Contains(string(f.Body), `"online":true`)
	})
	seller.call(t, map[string]any{"type": "subscribe", "topic": "room:" + roomID})
	seller.send(t, map[string]any{"v": 1, "type": "typing", "room": roomID})
	buyer.await(t, "the seller typing (push.room)", func(f edgeFrame) bool {
		return f.Type == "event" && f.Topic == "chat.typing" && strings.Contains(string(f.Body), m.Seller.ID)
	})
	buyer.call(t, map[string]any{"type": "req", "method": "chat.send",
		"body": map[string]string{"room_id": roomID, "text": "Still there?", "client_msg_id": "deploy-2"}})
	seller.await(t, "the buyer's message (push.user)", func(f edgeFrame) bool {
		return f.Type == "event" && f.Topic == contracts.PushTopicChatMessage && strings.Contains(string(f.Body), "Still there?")
	})
}

type edgeFrame struct {
	Type  string           `json:"type"`
	ID    string           `json:"id"`
	Topic string           `json:"topic"`
	Body  json.RawMessage  `json:"body"`
	Error *contracts.Error `json:"error"`
}

// edgeClient is one WebSocket connection to the edge; frames arrive on a channel.
type edgeClient struct {
	ws     *websocket.Conn
	frames chan edgeFrame
	ids    atomic.Int64
}

// dialEdge connects and authenticates with token.
func dialEdge(t *testing.T, url, token string) *edgeClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &edgeClient{ws: ws, frames: make(chan edgeFrame, 256)}
	t.Cleanup(func() { _ = ws.Close() })
	go func() {
		defer close(c.frames)
		for {
			var f edgeFrame
			if err := ws.ReadJSON(&f); err != nil {
				return
			}
			c.frames <- f
		}
	}()
	c.await(t, "hello", func(f edgeFrame) bool { return f.Type == "hello" })
	c.call(t, map[string]any{"type": "auth", "token": token})
	return c
}

func (c *edgeClient) send(t *testing.T, frame map[string]any) {
	t.Helper()
	if err := c.ws.WriteJSON(frame); err != nil {
		t.Fatalf("send %v: %v", frame, err)
	}
}

// call sends a frame with a fresh id and returns the body of its ok answer.
func (c *edgeClient) call(t *testing.T, frame map[string]any) json.RawMessage {
	t.Helper()
	id := fmt.Sprint("f", c.ids.Add(1))
	frame["v"], frame["id"] = 1, id
	c.send(t, frame)
	f := c.await(t, fmt.Sprintf("the answer to %v", frame), func(f edgeFrame) bool { return f.ID == id })
	if f.Type != "ok" {
		t.Fatalf("%v: %s %+v", frame, f.Type, f.Error)
	}
	return f.Body
}

// await returns the first frame matching ok, skipping others.
func (c *edgeClient) await(t *testing.T, what string, ok func(edgeFrame) bool) edgeFrame {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case f, open := <-c.frames:
			if !open {
				t.Fatalf("the edge closed the connection waiting for %s", what)
			}
			if ok(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("no %s from the edge within a minute", what)
		}
	}
}
