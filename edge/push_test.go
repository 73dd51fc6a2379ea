package edge

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
	"github.com/moa-run/moa/moatest"
)

func TestTwoEdgesDeliverToEveryConnectionOfAUser(t *testing.T) {
	e := newEnv(t)
	a, b := e.edge(Config{}), e.edge(Config{})
	u, other := principal(contracts.RoleConsumer), principal(contracts.RoleConsumer)
	onA, onB := dial(t, a.url), dial(t, b.url)
	onA.mustAuth(e.iss.token(u))
	onB.mustAuth(e.iss.token(u))
	bystander := dial(t, a.url)
	bystander.mustAuth(e.iss.token(other))

	msg := contracts.ChatMessage{ID: "m1", RoomID: "r1", SenderID: "s", Text: "hello"}
	e.push(u.UserID, contracts.PushTopicChatMessage, 0, msg)
	e.push(u.UserID, contracts.PushTopicNotification, 1, contracts.Notification{Seq: 1, Title: "Welcome"})
	for _, c := range []*wsClient{onA, onB} {
		f := c.next()
		var got contracts.ChatMessage
		if f.Type != protocol.TypeEvent || f.Topic != contracts.PushTopicChatMessage || json.Unmarshal(f.Body, &got) != nil || got.Text != "hello" {
			t.Fatalf("first push: %+v", f)
		}
		if f := c.next(); f.Type != protocol.TypeNotification || f.Seq != 1 {
			t.Fatalf("second push: %+v", f)
		}
	}
	// The other user got nothing: its next frame is the answer to its own ping.
	if f := bystander.call(map[string]any{"type": "ping"}); f.Type != protocol.TypePong {
		t.Fatalf("bystander got %+v", f)
	}

	// After the user's last connection on an edge is gone, that edge stops listening.
	_ = onB.ws.Close()
	waitNoSubscription(t, e, b, "push.user."+u.UserID)
	if !hasSubscription(t, e, a, "push.user."+u.UserID) {
		t.Fatal("the edge with the user's remaining connection stopped listening")
	}
	e.push(u.UserID, "test.after", 0, map[string]int{"n": 2})
	if f := onA.next(); f.Topic != "test.after" {
		t.Fatalf("after the other edge's connection left: %+v", f)
	}
}

// waitNoSubscription waits until the edge's bus connection has no subscription on subject.
func waitNoSubscription(t *testing.T, e *env, ed *testEdge, subject string) {
	t.Helper()
	moatest.Eventually(t, 10*time.Second, func() bool { return !hasSubscription(t, e, ed, subject) },
		"edge %s still subscribed to %s", ed.g.InstanceID(), subject)
}

// subscriptions lists the subjects the server has subscriptions on, for one edge's connection
// (nil: every connection).
func subscriptions(t *testing.T, e *env, ed *testEdge) []string {
	t.Helper()
	opts := &server.ConnzOptions{Subscriptions: true}
	if ed != nil {
		cid, err := ed.g.nc.GetClientID()
		if err != nil {
			t.Fatal(err)
		}
		opts.CID = cid
	}
	cz, err := e.ns.Server().Connz(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cz.Conns {
		out = append(out, c.Subs...)
	}
	return out
}

func hasSubscription(t *testing.T, e *env, ed *testEdge, subject string) bool {
	for _, s := range subscriptions(t, e, ed) {
		if s == subject {
			return true
		}
	}
	return false
}

func TestResumeReturnsMissedNotificationsOrResync(t *testing.T) {
	e := newEnv(t)
	fn := serveNotify(t, e.rt)
	ed := e.edge(Config{})
	u := principal(contracts.RoleConsumer)
	for i := range 5 {
		fn.add(u.UserID, "n"+string(rune('1'+i)))
	}
	c := dial(t, ed.url)
	c.mustAuth(e.iss.token(u))
	f := c.call(map[string]any{"type": "resume", "since": 2})
	var resp contracts.NotifySinceResp
	if f.Type != protocol.TypeOK || json.Unmarshal(f.Body, &resp) != nil {
		t.Fatalf("resume: %+v", f)
	}
	if !resp.Recoverable || resp.LastSeq != 5 || len(resp.Items) != 3 || resp.Items[0].Seq != 3 || resp.Items[2].Seq != 5 {
		t.Fatalf("resume since 2: %+v", resp)
	}
	// Nothing missed: an empty list, not null.
	f = c.call(map[string]any{"type": "resume", "since": 5})
	if f.Type != protocol.TypeOK || !strings.Contains(string(f.Body), `"items":[]`) {
		t.Fatalf("resume since 5: %s", f.Body)
	}
	// The service pruned 1..3: a client at 1 cannot be caught up and is told so.
	fn.prune(u.UserID, 4)
	f = c.call(map[string]any{"type": "resume", "since": 1})
	var rs struct {
		LastSeq uint64 `json:"last_seq"`
	}
	if f.Type != protocol.TypeResync || json.Unmarshal(f.Body, &rs) != nil || rs.LastSeq != 5 || f.Reason == "" {
		t.Fatalf("resume since 1 after pruning: %+v", f)
	}
	// Live notifications carry their sequence.
	n := fn.add(u.UserID, "live")
	e.push(u.UserID, contracts.PushTopicNotification, n.Seq, n)
	if f := c.next(); f.Type != protocol.TypeNotification || f.Seq != 6 {
		t.Fatalf("live notification: %+v", f)
	}
}

func TestTypingAndPresenceAcrossEdges(t *testing.T) {
	e := newEnv(t)
	chat := serveChat(t, e.rt)
	a, b := e.edge(Config{TypingInterval: time.Millisecond}), e.edge(Config{TypingInterval: time.Millisecond})
	consumer, seller, outsider := principal(contracts.RoleConsumer), principal(contracts.RoleSeller), principal(contracts.RoleConsumer)
	room := chat.room(consumer, seller)

	cons := dial(t, a.url)
	cons.mustAuth(e.iss.token(consumer))
	f := cons.call(map[string]any{"type": "subscribe", "topic": "room:" + room.ID})
	var sub subscribed
	if f.Type != protocol.TypeOK || json.Unmarshal(f.Body, &sub) != nil || sub.Room.ID != room.ID || sub.Presence == nil || sub.Presence.Online {
		t.Fatalf("subscribe before the seller is online: %+v %s", f.Error, f.Body)
	}

	// The seller comes online on the other edge; the consumer sees it live.
	sel := dial(t, b.url)
	sel.mustAuth(e.iss.token(seller))
	f = cons.until(func(f frame) bool { return f.Topic == contracts.PushTopicPresence })
	var pr contracts.Presence
	if json.Unmarshal(f.Body, &pr) != nil || !pr.Online || pr.UserID != seller.UserID {
		t.Fatalf("presence push: %s", f.Body)
	}
	// A second subscriber reads the state from the bucket.
	cons2 := dial(t, b.url)
	cons2.mustAuth(e.iss.token(consumer))
	f = cons2.call(map[string]any{"type": "subscribe", "topic": "room:" + room.ID})
	if json.Unmarshal(f.Body, &sub) != nil || sub.Presence == nil || !sub.Presence.Online {
		t.Fatalf("subscribe while the seller is online: %s", f.Body)
	}

	// Typing goes to the other member on the other edge, not back to the typist.
	if f := sel.call(map[string]any{"type": "subscribe", "topic": "room:" + room.ID}); f.Type != protocol.TypeOK {
		t.Fatalf("seller subscribe: %+v", f.Error)
	}
	cons.sendFrame(map[string]any{"type": "typing", "room": room.ID})
	f = sel.until(func(f frame) bool { return f.Topic == contracts.PushTopicTyping })
	var ty contracts.ChatTyping
	if json.Unmarshal(f.Body, &ty) != nil || ty.UserID != consumer.UserID || ty.RoomID != room.ID {
		t.Fatalf("typing: %s", f.Body)
	}
	if f := cons.call(map[string]any{"type": "ping"}); f.Type != protocol.TypePong {
		t.Fatalf("the typist got %+v", f)
	}
	// The consumer's other screen sees the seller typing.
	sel.sendFrame(map[string]any{"type": "typing", "room": room.ID})
	f = cons2.until(func(f frame) bool { return f.Topic == contracts.PushTopicTyping })
	if json.Unmarshal(f.Body, &ty) != nil || ty.UserID != seller.UserID {
		t.Fatalf("seller typing on the consumer's second screen: %s", f.Body)
	}

	// An outsider cannot subscribe to the room or signal in it.
	out := dial(t, a.url)
	out.mustAuth(e.iss.token(outsider))
	wantError(t, out.call(map[string]any{"type": "subscribe", "topic": "room:" + room.ID}), "not_found")
	out.sendFrame(map[string]any{"type": "typing", "room": room.ID})
	wantError(t, out.next(), "not_found")

	// The seller leaves: the consumer sees them offline.
	_ = sel.ws.Close()
	f = cons.until(func(f frame) bool { return f.Topic == contracts.PushTopicPresence })
	if json.Unmarshal(f.Body, &pr) != nil || pr.Online {
		t.Fatalf("presence after the seller left: %s", f.Body)
	}
}

func TestPresenceOfACrashedEdgeLapses(t *testing.T) {
	e := newEnv(t)
	chat := serveChat(t, e.rt)
	ttl := time.Second
	a := e.edge(Config{PresenceTTL: ttl})
	consumer, seller := principal(contracts.RoleConsumer), principal(contracts.RoleSeller)
	room := chat.room(consumer, seller)
	cons := dial(t, a.url)
	cons.mustAuth(e.iss.token(consumer))
	if f := cons.call(map[string]any{"type": "subscribe", "topic": "room:" + room.ID}); f.Type != protocol.TypeOK {
		t.Fatalf("subscribe: %+v", f.Error)
	}

	// Another instance claims the seller online, then "crashes": its claim is never renewed
	// or withdrawn.
	crashed := newPresence(e.rt.JetStream(), e.rt.Conn(), nil, "edge-crashed", ttl, e.rt.Logger())
	close(crashed.done)
	if err := crashed.update(context.Background(), seller.UserID, true); err != nil {
		t.Fatal(err)
	}
	var pr contracts.Presence
	f := cons.until(func(f frame) bool { return f.Topic == contracts.PushTopicPresence })
	if json.Unmarshal(f.Body, &pr) != nil || !pr.Online {
		t.Fatalf("presence after the claim: %s", f.Body)
	}
	// The watching edge notices the claim lapsed.
	f = cons.until(func(f frame) bool { return f.Topic == contracts.PushTopicPresence })
	if json.Unmarshal(f.Body, &pr) != nil || pr.Online || pr.UserID != seller.UserID {
		t.Fatalf("presence after the claim lapsed: %s", f.Body)
	}
}

func TestUnsafeIDsNeverReachASubject(t *testing.T) {
	e := newEnv(t)
	chat := serveChat(t, e.rt)
	ed := e.edge(Config{})
	c := dial(t, ed.url)
	u := principal(contracts.RoleConsumer)
	c.mustAuth(e.iss.token(u))

	// Room ids from frames are checked by the decoder.
	for _, room := range []string{"a.b", "*", ">", "a b", "push.user.x"} {
		c.sendFrame(map[string]any{"type": "typing", "room": room})
		wantError(t, c.next(), "invalid_subject_token")
		wantError(t, c.call(map[string]any{"type": "subscribe", "topic": "room:" + room}), "invalid_subject_token")
	}
	// A user id is taken from a verified token, but still checked before it becomes a subject.
	for _, id := range []string{"evil.>", "*", "a b"} {
		d := dial(t, ed.url)
		p := principal(contracts.RoleSeller)
		p.UserID = id
		wantError(t, d.auth(e.iss.token(p)), "invalid_subject_token")
	}
	// A member id from a service is checked too: a room whose seller id is unsafe cannot be
	// watched.
	bad := principal(contracts.RoleSeller)
	bad.UserID = "x.>"
	room := chat.room(u, bad)
	wantError(t, c.call(map[string]any{"type": "subscribe", "topic": "room:" + room.ID}), "invalid_subject_token")

	for _, s := range subscriptions(t, e, nil) {
		if strings.HasPrefix(s, "push.") && (strings.ContainsAny(s, "*> ") || strings.Count(s, ".") != 2) {
			t.Fatalf("the edge subscribed to %q", s)
		}
	}
}

func TestShutdownSendsGoingAway(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{})
	c := dial(t, ed.url)
	c.mustAuth(e.iss.token(principal(contracts.RoleSeller)))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ed.g.Shutdown(ctx)
	}()
	seen := wantClose(t, c, protocol.CloseGoingAway, "unavailable")
	if len(seen) == 0 || seen[len(seen)-1].Type != protocol.TypeBye {
		t.Fatalf("frames before going away: %+v", seen)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, resp, err := dialRaw(ed.url); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("dial after shutdown: %v %v", resp, err)
	}
}
