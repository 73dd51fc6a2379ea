package e2etest

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/services/chat"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// startEdge runs an edge instance on a bus connection of its own, as a separate process would:
// as the edge's NATS user, its replies in the edge's inbox space.
func startEdge(t *testing.T, sys *system.System) string {
	t.Helper()
	nc, err := nats.Connect(sys.ServiceNATSURL("edge"), nats.CustomInboxPrefix(system.InboxPrefix("edge")))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	gw := edge.New(rt, edge.Config{})
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		srv.Close()
		_ = rt.Close(ctx, false)
		nc.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// TestChatThroughTwoEdges runs chat through the real catalog and chat services with the
// consumer on both edge instances and the seller on one: every connection of a member gets
// each stored message live, wherever it is; acks come with the stored id and time; history
// pages; read receipts and unread counts follow.
func TestChatThroughTwoEdges(t *testing.T) {
	reg := map[string]system.Registration{"chat": {Start: chat.Start, Mongo: true}}
	if r, ok := system.Lookup("catalog"); ok {
		reg["catalog"] = r
	} else {
		t.Fatal("catalog is not registered")
	}
	sys := systemtest.Boot(t, systemtest.Configure(func(c *system.Config) { c.Registry = reg; c.Services = nil }),
		systemtest.Setting("catalog", "CACHE_TTL", "0"))
	iss := authntest.NewIssuer(t, sys.Runtime())
	edgeA, edgeB := startEdge(t, sys), startEdge(t, sys)

	seller, consumer := authntest.Seller(), authntest.Consumer()
	sel := dial(t, edgeA, iss.Token(seller))
	consB := dial(t, edgeB, iss.Token(consumer))
	consA := dial(t, edgeA, iss.Token(consumer))

	var product contracts.Product
	sel.call("catalog.create_product", map[string]any{"title": "Tea club", "price_amount": 5900, "currency": "KRW",
		"billing_period": "monthly", "terms": "Cancel any time.", "capacity": 10}, &product)
	var room contracts.ChatRoom
	consB.call("chat.open_room", map[string]string{"product_id": product.ID}, &room)
	if room.SellerID != seller.UserID || room.ConsumerID != consumer.UserID {
		t.Fatalf("room %+v", room)
	}

	// The ack names the stored message; the seller and the consumer's other connection, on
	// the other edge, receive it.
	var ack contracts.ChatSendAck
	consB.call("chat.send", map[string]string{"room_id": room.ID, "text": "Is it organic?", "client_msg_id": "c1"}, &ack)
	if ack.MessageID == "" || ack.SentAt.IsZero() || ack.Duplicate {
		t.Fatalf("ack %+v", ack)
	}
	for _, c := range []*client{sel, consA} {
		c.push(contracts.PushTopicChatMessage, ack.MessageID)
	}
	// A retried send (lost ack) returns the first ack and stores nothing.
	var again contracts.ChatSendAck
	consB.call("chat.send", map[string]string{"room_id": room.ID, "text": "Is it organic?", "client_msg_id": "c1"}, &again)
	if again.MessageID != ack.MessageID || !again.Duplicate {
		t.Fatalf("retried send: %+v, first %+v", again, ack)
	}

	for i, text := range []string{"Yes.", "Fully.", "Since 2019."} {
		var a contracts.ChatSendAck
		sel.call("chat.send", map[string]string{"room_id": room.ID, "text": text, "client_msg_id": "s" + string(rune('1'+i))}, &a)
		consB.push(contracts.PushTopicChatMessage, a.MessageID)
		consA.push(contracts.PushTopicChatMessage, a.MessageID)
	}
	var unread contracts.ChatUnreadCount
	consA.call("chat.unread", map[string]any{}, &unread)
	if unread.Total != 3 {
		t.Fatalf("consumer unread %+v, want 3", unread)
	}

	// History pages, newest first.
	var page contracts.ChatHistoryPage
	consA.call("chat.history", map[string]any{"room_id": room.ID, "limit": 2}, &page)
	if len(page.Items) != 2 || page.Items[0].Text != "Since 2019." || !page.HasMore {
		t.Fatalf("first page %+v", page)
	}
	var older contracts.ChatHistoryPage
	consA.call("chat.history", map[string]any{"room_id": room.ID, "limit": 2, "before": page.Items[1].ID}, &older)
	if len(older.Items) != 2 || older.Items[1].Text != "Is it organic?" || older.HasMore {
		t.Fatalf("second page %+v", older)
	}

	// Reading moves the receipt, which the seller sees live, and clears the unread count.
	var rr contracts.ChatReadReceipt
	consA.call("chat.mark_read", map[string]string{"room_id": room.ID, "up_to_message_id": page.Items[0].ID}, &rr)
	sel.push(contracts.PushTopicChatRead, consumer.UserID)
	consB.call("chat.unread", map[string]any{}, &unread)
	if unread.Total != 0 {
		t.Fatalf("unread after reading: %+v", unread)
	}

	// Typing crosses edges too, once both have subscribed to the room.
	if f := sel.send(map[string]any{"type": "subscribe", "topic": "room:" + room.ID}); f.Type != "ok" {
		t.Fatalf("subscribe: %+v", f.Error)
	}
	if f := consB.send(map[string]any{"type": "subscribe", "topic": "room:" + room.ID}); f.Type != "ok" {
		t.Fatalf("subscribe: %+v", f.Error)
	}
	consB.wmu.Lock()
	_ = consB.ws.WriteMessage(1, []byte(`{"v":1,"type":"typing","room":"`+room.ID+`"}`))
	consB.wmu.Unlock()
	sel.push(contracts.PushTopicTyping, consumer.UserID)
}
