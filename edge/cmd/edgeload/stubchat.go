package main

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
)

// startStubChat serves chat.open_room and chat.send from memory, pushing each message to both
// members like the real service: the chat benchmark run with it (-chat-store=memory) measures
// the edge and NATS without the store.
func startStubChat(rt *bus.Runtime) error {
	svc, err := rt.AddService(contracts.ChatService)
	if err != nil {
		return err
	}
	v := authn.NewVerifier(rt.Client())
	svc.UseVerifier(v) // the bus checks the contract's access with it
	var mu sync.Mutex
	rooms := map[string]contracts.ChatRoom{}
	var seq atomic.Int64
	if err := bus.Handle(svc, contracts.ChatOpenRoom, func(ctx context.Context, r contracts.ChatOpenRoomRequest) (contracts.ChatRoom, error) {
		p, _ := bus.Caller(ctx) // a consumer: the bus checked contracts.ChatOpenRoom's access
		room := contracts.ChatRoom{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(r.ProductID+p.UserID)).String(), ProductID: r.ProductID,
			ConsumerID: p.UserID, SellerID: sellerOf(r.ProductID), ProductTitle: "bench", CreatedAt: time.Now().UTC()}
		mu.Lock()
		rooms[room.ID] = room
		mu.Unlock()
		return room, nil
	}); err != nil {
		return err
	}
	return bus.Handle(svc, contracts.ChatSend, func(ctx context.Context, r contracts.ChatSendRequest) (contracts.ChatSendAck, error) {
		p, _ := bus.Caller(ctx)
		mu.Lock()
		room, ok := rooms[r.RoomID]
		mu.Unlock()
		if !ok || (p.UserID != room.ConsumerID && p.UserID != room.SellerID) {
			return contracts.ChatSendAck{}, contracts.ErrNotFound.Msg("no such room")
		}
		m := contracts.ChatMessage{ID: "m" + uuid.NewString()[:8] + "-" + string(rune('a'+seq.Add(1)%26)), RoomID: r.RoomID,
			SenderID: p.UserID, Text: r.Text, ClientMsgID: r.ClientMsgID, SentAt: time.Now().UTC()}
		body, _ := json.Marshal(m)
		msg, _ := json.Marshal(contracts.Push{Topic: contracts.PushTopicChatMessage, Body: body})
		for _, u := range []string{room.ConsumerID, room.SellerID} {
			if s, err := contracts.PushUserSubject(u); err == nil {
				_ = rt.Conn().Publish(s, msg)
			}
		}
		return contracts.ChatSendAck{MessageID: m.ID, RoomID: m.RoomID, ClientMsgID: m.ClientMsgID, SentAt: m.SentAt}, nil
	})
}
