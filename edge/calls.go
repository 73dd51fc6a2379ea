package edge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// callContext is the context of a call made for the connection: it ends with the connection
// or after the edge's call timeout, and carries the user's token so that the service checks
// the caller itself.
func (c *conn) callContext(token string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.CallTimeout)
	if token != "" {
		ctx = bus.WithAuthToken(ctx, token)
	}
	call := &inflight{cancel: cancel}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		cancel()
		return ctx, cancel
	}
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	return ctx, func() {
		cancel()
		c.mu.Lock()
		for i, x := range c.calls {
			if x == call {
				c.calls = append(c.calls[:i], c.calls[i+1:]...)
				break
			}
		}
		if len(c.calls) == 0 {
			c.calls = nil
		}
		c.mu.Unlock()
	}
}

// handleRequest mediates one call: the method must be on the allowlist and the connection's
// identity must satisfy its policy. The body goes to the service as it is (the service
// decodes it strictly); identity travels only as the token.
func (c *conn) handleRequest(f protocol.ClientFrame) {
	route := c.g.routes[f.Method]
	if route == nil {
		c.sendError(f.ID, contracts.ErrUnknownMethod.Msg("no method %q", f.Method))
		return
	}
	state, p, token := c.identity()
	if err := allows(route.Endpoint.Access, state == stateUser, p.Role); err != nil {
		c.sendError(f.ID, err)
		return
	}
	body := []byte(f.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if route.rewrite != nil {
		var err error
		if body, err = route.rewrite(c, body); err != nil {
			c.sendError(f.ID, err)
			return
		}
	}
	ctx, cancel := c.callContext(token)
	defer cancel()
	start := time.Now()
	reply, err := c.g.client.Invoke(ctx, &bus.Request{Endpoint: route.Endpoint, Data: body})
	c.g.metrics.observeCall(route.Method, err, time.Since(start))
	if err != nil {
		c.sendError(f.ID, err)
		return
	}
	c.send(protocol.ServerFrame{Type: protocol.TypeOK, ID: f.ID, Body: json.RawMessage(reply.Data), Degraded: reply.Degraded})
}

// handleResume answers "what did I miss since seq": every notification after it in one
// answer, or a resync frame when the notify service can no longer tell (never a silent gap).
// Live notifications keep arriving meanwhile; the client orders both by sequence.
func (c *conn) handleResume(f protocol.ClientFrame) {
	state, p, token := c.identity()
	if state != stateUser {
		c.sendError(f.ID, contracts.ErrUnauthenticated.Msg("notifications need a signed-in session"))
		return
	}
	ctx, cancel := c.callContext(token)
	defer cancel()
	resp, err := bus.Call(ctx, c.g.client, contracts.NotifySince, contracts.NotifySinceReq{Since: *f.Since})
	if err != nil {
		c.sendError(f.ID, err)
		return
	}
	if subject, err := contracts.PushUserSubject(p.UserID); err == nil {
		c.g.hub.seedOrder(subject, resp.LastSeq) // pushes after it are ordered from here (order.go)
	}
	if !resp.Recoverable {
		c.send(protocol.ServerFrame{Type: protocol.TypeResync, ID: f.ID,
			Reason: "the notifications after your sequence are no longer all available; reload them and continue from last_seq",
			Body:   map[string]uint64{"last_seq": resp.LastSeq}})
		return
	}
	if resp.Items == nil {
		resp.Items = []contracts.Notification{}
	}
	c.send(protocol.ServerFrame{Type: protocol.TypeOK, ID: f.ID, Body: resp})
}

// subscribed is the answer to a room subscription: the room, and the seller's presence when
// the subscriber is the room's consumer.
type subscribed struct {
	Room     contracts.ChatRoom  `json:"room"`
	Presence *contracts.Presence `json:"presence,omitempty"`
}

// handleSubscribe starts listening to a room's typing signals (and the seller's presence).
// The chat service decides membership: chat.v1.room answers not_found to anyone else.
func (c *conn) handleSubscribe(f protocol.ClientFrame) {
	roomID := protocol.RoomOfTopic(f.Topic)
	state, p, token := c.identity()
	if state != stateUser {
		c.sendError(f.ID, contracts.ErrUnauthenticated.Msg("rooms need a signed-in session"))
		return
	}
	room, err := c.fetchRoom(roomID, token)
	if err != nil {
		c.sendError(f.ID, err)
		return
	}
	out := subscribed{Room: room}
	if err := c.joinRoom(room, p); err != nil {
		c.sendError(f.ID, err)
		return
	}
	if room.SellerID != p.UserID {
		ctx, cancel := c.callContext("")
		st := c.g.presence.state(ctx, room.SellerID)
		cancel()
		out.Presence = &st
	}
	c.send(protocol.ServerFrame{Type: protocol.TypeOK, ID: f.ID, Body: out})
}

// fetchRoom asks the chat service for a room as the connection's user.
func (c *conn) fetchRoom(roomID, token string) (contracts.ChatRoom, error) {
	ctx, cancel := c.callContext(token)
	defer cancel()
	room, err := bus.Call(ctx, c.g.client, contracts.ChatGetRoom, contracts.ChatRoomRef{RoomID: roomID})
	if err == nil && room.ID != roomID {
		err = contracts.ErrInternal.Msg("chat answered for another room")
	}
	return room, err
}

// joinRoom records the room on the connection and listens to its subjects. It holds subMu
// throughout, so that cleanup, which takes it too, sees every subscription made.
func (c *conn) joinRoom(room contracts.ChatRoom, p contracts.Principal) error {
	roomSubject, err := contracts.PushRoomSubject(room.ID)
	if err != nil {
		return err
	}
	watch := room.SellerID != p.UserID
	var presenceSubject string
	if watch {
		if presenceSubject, err = contracts.PushPresenceSubject(room.SellerID); err != nil {
			return err
		}
	}
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if c.left {
		return contracts.ErrCanceled.Msg("the connection closed")
	}
	c.mu.Lock()
	if _, ok := c.rooms[room.ID]; ok {
		c.mu.Unlock()
		return nil
	}
	if len(c.rooms) >= maxRoomsPerConn {
		c.mu.Unlock()
		return contracts.ErrValidation.OnField("topic", "at most %d rooms per connection", maxRoomsPerConn)
	}
	if c.rooms == nil {
		c.rooms = map[string]*roomInfo{}
	}
	c.rooms[room.ID] = &roomInfo{sellerID: room.SellerID, watching: watch}
	newWatch := false
	if watch {
		if c.presence == nil {
			c.presence = map[string]int{}
		}
		c.presence[room.SellerID]++
		newWatch = c.presence[room.SellerID] == 1
	}
	c.mu.Unlock()
	if err := c.g.hub.join(roomSubject, kindRoom, c); err != nil {
		c.leaveRoomLocked(room.ID, false)
		return err
	}
	if newWatch {
		c.g.presence.watch(room.SellerID)
		if err := c.g.hub.join(presenceSubject, kindPresence, c); err != nil {
			c.leaveRoomLocked(room.ID, true)
			return err
		}
	}
	return nil
}

// leaveRoom forgets a room and stops listening to what only it needed.
func (c *conn) leaveRoom(roomID string) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.leaveRoomLocked(roomID, true)
}

// leaveRoomLocked is leaveRoom with subMu held.
func (c *conn) leaveRoomLocked(roomID string, joinedRoom bool) {
	c.mu.Lock()
	info := c.rooms[roomID]
	if info == nil {
		c.mu.Unlock()
		return
	}
	delete(c.rooms, roomID)
	lastWatch := false
	if info.watching {
		c.presence[info.sellerID]--
		if c.presence[info.sellerID] <= 0 {
			delete(c.presence, info.sellerID)
			lastWatch = true
		}
	}
	c.mu.Unlock()
	if s, err := contracts.PushRoomSubject(roomID); err == nil && joinedRoom {
		c.g.hub.leave(s, c)
	}
	if lastWatch {
		c.unwatch(info.sellerID)
	}
}

// unwatch stops listening to a seller's presence.
func (c *conn) unwatch(sellerID string) {
	if s, err := contracts.PushPresenceSubject(sellerID); err == nil {
		c.g.hub.leave(s, c)
	}
	c.g.presence.unwatch(sellerID)
}

func (c *conn) handleUnsubscribe(f protocol.ClientFrame) {
	c.leaveRoom(protocol.RoomOfTopic(f.Topic))
	c.send(protocol.ServerFrame{Type: protocol.TypeOK, ID: f.ID})
}

// handleTyping passes a typing signal to the room's other member, on whichever edge they are.
// Only a member of the room can signal, checked by subscribing to it (chat.v1.room), and at
// most one signal per TypingInterval goes out; typing frames have no answer, so errors come
// back without an id unless the frame had one anyway.
func (c *conn) handleTyping(f protocol.ClientFrame) {
	state, p, _ := c.identity()
	if state != stateUser {
		c.sendError(f.ID, contracts.ErrUnauthenticated.Msg("typing needs a signed-in session"))
		return
	}
	now := time.Now()
	c.mu.Lock()
	info := c.rooms[f.Room]
	if info != nil {
		if now.Sub(info.typingAt) < c.g.cfg.TypingInterval {
			c.mu.Unlock()
			return
		}
		info.typingAt = now
	}
	c.mu.Unlock()
	if info == nil {
		c.sendError(f.ID, contracts.ErrNotFound.OnField("room", "subscribe to room:%s before sending typing signals to it", f.Room))
		return
	}
	subject, err := contracts.PushRoomSubject(f.Room)
	if err != nil {
		c.sendError(f.ID, err)
		return
	}
	body, _ := json.Marshal(contracts.ChatTyping{RoomID: f.Room, UserID: p.UserID, At: now.UTC()})
	msg, _ := json.Marshal(contracts.Push{Topic: contracts.PushTopicTyping, Body: body})
	if err := c.g.nc.Publish(subject, msg); err != nil {
		c.sendError(f.ID, contracts.ErrUnavailable.Msg("the typing signal was not sent: %v", err))
	}
}
