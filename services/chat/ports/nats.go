// Package ports connects the chat to the bus: its endpoints (chat.v1.*). The endpoints' wire
// types are mapped here, to and from the app's calls and the domain's types (see wire.go).
package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/app"
)

// Verifier is what the bus needs from client/authn to check the access tokens of requests.
type Verifier = bus.TokenVerifier

var _ Verifier = (*authn.Verifier)(nil)

type endpoints struct {
	app *app.App
}

// RegisterEndpoints adds every chat endpoint to svc. Who may call what is declared in
// contracts and checked by the bus before a handler runs: every endpoint wants a signed-in
// user, chat.open_room a consumer (a seller answers in the rooms consumers open about their
// products). The caller is the user of the verified token; room membership is checked here.
func RegisterEndpoints(svc *bus.Service, a *app.App, auth Verifier) error {
	svc.UseVerifier(auth)
	e := endpoints{app: a}
	for _, err := range []error{
		bus.Handle(svc, contracts.ChatOpenRoom, e.openRoom),
		bus.Handle(svc, contracts.ChatSend, e.send),
		bus.Handle(svc, contracts.ChatHistory, e.history),
		bus.Handle(svc, contracts.ChatMarkRead, e.markRead),
		bus.Handle(svc, contracts.ChatRooms, e.rooms),
		bus.Handle(svc, contracts.ChatUnread, e.unread),
		bus.Handle(svc, contracts.ChatGetRoom, e.room),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func (e endpoints) openRoom(ctx context.Context, req contracts.ChatOpenRoomRequest) (contracts.ChatRoom, error) {
	p := caller(ctx)
	r, err := e.app.OpenRoom(ctx, p.UserID, req.ProductID)
	if err != nil {
		return contracts.ChatRoom{}, err
	}
	return roomView(r), nil
}

func (e endpoints) room(ctx context.Context, req contracts.ChatRoomRef) (contracts.ChatRoom, error) {
	p := caller(ctx)
	r, err := e.app.Room(ctx, p.UserID, req.RoomID)
	if err != nil {
		return contracts.ChatRoom{}, err
	}
	return roomView(r), nil
}

func (e endpoints) send(ctx context.Context, req contracts.ChatSendRequest) (contracts.ChatSendAck, error) {
	p := caller(ctx)
	m, dup, err := e.app.Send(ctx, p.UserID, req.RoomID, req.Text, req.ClientMsgID)
	if err != nil {
		return contracts.ChatSendAck{}, err
	}
	return contracts.ChatSendAck{MessageID: m.ID, RoomID: m.RoomID, ClientMsgID: m.ClientMsgID, SentAt: m.SentAt, Duplicate: dup}, nil
}

func (e endpoints) history(ctx context.Context, req contracts.ChatHistoryRequest) (contracts.ChatHistoryPage, error) {
	p := caller(ctx)
	items, more, err := e.app.History(ctx, p.UserID, req.RoomID, req.Before, req.Limit)
	if err != nil {
		return contracts.ChatHistoryPage{}, err
	}
	out := contracts.ChatHistoryPage{Items: make([]contracts.ChatMessage, len(items)), HasMore: more}
	for i, m := range items {
		out.Items[i] = messageView(m)
	}
	return out, nil
}

func (e endpoints) markRead(ctx context.Context, req contracts.ChatMarkReadRequest) (contracts.ChatReadReceipt, error) {
	p := caller(ctx)
	rc, err := e.app.MarkRead(ctx, p.UserID, req.RoomID, req.UpToMessageID)
	if err != nil {
		return contracts.ChatReadReceipt{}, err
	}
	return receiptView(rc), nil
}

func (e endpoints) rooms(ctx context.Context, req contracts.ChatRoomsRequest) (contracts.ChatRoomList, error) {
	p := caller(ctx)
	items, more, err := e.app.Rooms(ctx, p.UserID, req.Before, req.Limit)
	if err != nil {
		return contracts.ChatRoomList{}, err
	}
	out := contracts.ChatRoomList{Items: make([]contracts.ChatRoomSummary, len(items)), HasMore: more}
	for i, s := range items {
		out.Items[i] = contracts.ChatRoomSummary{Room: roomView(s.Room), Unread: s.Unread}
		if s.Room.Last != nil {
			m := messageView(*s.Room.Last)
			out.Items[i].LastMessage = &m
		}
	}
	return out, nil
}

func (e endpoints) unread(ctx context.Context, _ contracts.Empty) (contracts.ChatUnreadCount, error) {
	p := caller(ctx)
	total, rooms, err := e.app.Unread(ctx, p.UserID)
	if err != nil {
		return contracts.ChatUnreadCount{}, err
	}
	return contracts.ChatUnreadCount{Total: total, Rooms: rooms}, nil
}

// caller is the request's user, verified by the bus (every chat endpoint wants one).
func caller(ctx context.Context) contracts.Principal {
	p, _ := bus.Caller(ctx)
	return p
}
