package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// ChatClient calls the chat service. Every call needs the caller's access token on ctx
// (bus.WithAuthToken): the caller is always the token's user.
type ChatClient struct{ c *bus.Client }

// NewChatClient returns the chat client over c.
func NewChatClient(c *bus.Client) *ChatClient { return &ChatClient{c: c} }

// OpenRoom opens (or returns) the calling consumer's room with the seller of productID.
func (c *ChatClient) OpenRoom(ctx context.Context, productID string) (contracts.ChatRoom, error) {
	return bus.Call(ctx, c.c, contracts.ChatOpenRoom, contracts.ChatOpenRoomRequest{ProductID: productID})
}

// Room returns one of the caller's rooms with its member ids.
func (c *ChatClient) Room(ctx context.Context, roomID string) (contracts.ChatRoom, error) {
	return bus.Call(ctx, c.c, contracts.ChatGetRoom, contracts.ChatRoomRef{RoomID: roomID})
}

// Send sends text to a room. clientMsgID identifies the message for retries: sending again
// with the same one returns the first ack (Duplicate set) and stores nothing.
func (c *ChatClient) Send(ctx context.Context, roomID, text, clientMsgID string) (contracts.ChatSendAck, error) {
	return bus.Call(ctx, c.c, contracts.ChatSend, contracts.ChatSendRequest{RoomID: roomID, Text: text, ClientMsgID: clientMsgID})
}

// History returns a page of a room's messages, newest first; set req.Before to the last item's
// id for the next page.
func (c *ChatClient) History(ctx context.Context, req contracts.ChatHistoryRequest) (contracts.ChatHistoryPage, error) {
	return bus.Call(ctx, c.c, contracts.ChatHistory, req)
}

// MarkRead moves the caller's read position in a room forward to message upTo.
func (c *ChatClient) MarkRead(ctx context.Context, roomID, upTo string) (contracts.ChatReadReceipt, error) {
	return bus.Call(ctx, c.c, contracts.ChatMarkRead, contracts.ChatMarkReadRequest{RoomID: roomID, UpToMessageID: upTo})
}

// Rooms returns a page of the caller's rooms, most recently active first, with unread counts.
func (c *ChatClient) Rooms(ctx context.Context, req contracts.ChatRoomsRequest) (contracts.ChatRoomList, error) {
	return bus.Call(ctx, c.c, contracts.ChatRooms, req)
}

// Unread returns the caller's unread messages over all rooms.
func (c *ChatClient) Unread(ctx context.Context) (contracts.ChatUnreadCount, error) {
	return bus.Call(ctx, c.c, contracts.ChatUnread, contracts.Empty{})
}
