package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// sagaFlow runs the subscription saga across catalog, billing, subscription and notify, each
// under its own NATS user: the buyer subscribes (catalog reserves a seat, billing charges,
// subscription activates), notify stores the activation and pushes it on the buyer's push
// subject where the edge hears it; the seller changes the terms (notify asks
// subscription.v1.subscribers whom to tell); the buyer cancels (billing refunds, catalog
// releases the seat); the seller's dashboard counts it, and an operator (ops) rebuilds the
// dashboard by replaying the streams.
func sagaFlow(t *testing.T, c, ops *bus.Client, opsRT *bus.Runtime, edge *userConn, m market) {
	t.Helper()
	ctx := ctxFor(t, 3*time.Minute)
	buyer, seller := bus.WithAuthToken(ctx, m.Buyer.Token), bus.WithAuthToken(ctx, m.Seller.Token)
	pushes := listen(t, edge, m.Buyer.ID)
	// The product comes on another stream than the saga's outcome: without this wait the
	// notification could name the product by its id.
	caughtUp(t, opsRT, "CATALOG", "notify_catalog")

	sub, err := bus.Call(buyer, c, contracts.SubscriptionSubscribe, contracts.SubscribeRequest{ProductID: m.Product.ID, IdempotencyKey: "deploy-test"})
	if err != nil {
		t.Fatalf("subscription.subscribe (subscription asks catalog.v1.get_product, writes its outbox): %v", err)
	}
	waitState(t, c, buyer, sub.ID, contracts.SubActive)
	n := nextNotification(t, pushes, 1)
	if n.Kind != contracts.NotificationSubscriptionActivated || !strings.Contains(n.Body, m.Product.Title) {
		t.Errorf("activation notification %+v: want %s naming %q (learnt from the catalog's event)", n, contracts.NotificationSubscriptionActivated, m.Product.Title)
	}
	got, err := bus.Call(buyer, c, contracts.NotifySince, contracts.NotifySinceReq{})
	if err != nil || len(got.Items) != 1 || got.Items[0].Seq != 1 {
		t.Errorf("notify.since: %+v, %v: want the activation", got, err)
	}
	pays, err := bus.Call(buyer, c, contracts.BillingPayments, contracts.SubscriptionPaymentsRequest{SubscriptionID: sub.ID})
	if err != nil || len(pays.Items) != 1 || pays.Items[0].Status != contracts.PaymentSucceeded || pays.Items[0].AmountMinor != m.Product.PriceAmount {
		t.Errorf("billing.payments: %+v, %v: want one charge of %d", pays, err, m.Product.PriceAmount)
	}

	terms := "Cancel any time. Refunds pro rata."
	if _, err := bus.Call(seller, c, contracts.CatalogUpdateProduct, contracts.UpdateProductRequest{ID: m.Product.ID, Terms: &terms}); err != nil {
		t.Fatalf("catalog.update_product: %v", err)
	}
	if n := nextNotification(t, pushes, 2); n.Kind != contracts.NotificationTermsChanged {
		t.Errorf("after the terms change: %+v, want %s (notify asks subscription.v1.subscribers)", n, contracts.NotificationTermsChanged)
	}

	if _, err := bus.Call(buyer, c, contracts.SubscriptionCancel, contracts.SubscriptionRef{ID: sub.ID}); err != nil {
		t.Fatalf("subscription.cancel: %v", err)
	}
	cancelled := waitState(t, c, buyer, sub.ID, contracts.SubCancelled)
	if cancelled.RefundMinor <= 0 {
		t.Errorf("cancelled %+v: want a refund from billing", cancelled)
	}
	if n := nextNotification(t, pushes, 3); n.Kind != contracts.NotificationSubscriptionCancelled {
		t.Errorf("after cancelling: %+v, want %s", n, contracts.NotificationSubscriptionCancelled)
	}
	moatest.WaitFor(t, time.Minute, func() error {
		d, err := bus.Call(seller, c, contracts.SubscriptionDashboard, contracts.Empty{})
		if err != nil {
			return err
		}
		if len(d.Items) != 1 || d.Items[0].Churned != 1 || d.Items[0].ActiveSubscribers != 0 {
			return fmt.Errorf("dashboard %+v: want one product with one churned subscriber", d.Items)
		}
		return nil
	})

	op, err := bus.Call(ctx, ops, contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: opsSecret})
	if err != nil {
		t.Fatalf("auth.operator_token: %v", err)
	}
	ctx = bus.WithAuthToken(ctx, op.AccessToken)
	rebuilt, err := bus.Call(ctx, ops, contracts.SubscriptionRebuildDashboard, contracts.Empty{})
	if err != nil || rebuilt.Events < 4 || rebuilt.Products != 1 {
		t.Errorf("rebuild_dashboard: %+v, %v: want the 4 events of the saga replayed (ordered consumers on SUBSCRIPTION and BILLING)", rebuilt, err)
	}
	if stuck, err := bus.Call(ctx, ops, contracts.SubscriptionStuck, contracts.StuckSagasRequest{}); err != nil || stuck.Count != 0 {
		t.Errorf("stuck sagas: %+v, %v", stuck, err)
	}
}

// waitState waits until the subscription reaches state and returns it; a saga that ends in
// another terminal state fails at once.
func waitState(t *testing.T, c *bus.Client, ctx context.Context, id string, state contracts.SubscriptionState) contracts.Subscription {
	t.Helper()
	var sub contracts.Subscription
	moatest.WaitFor(t, 2*time.Minute, func() error {
		var err error
		if sub, err = bus.Call(ctx, c, contracts.SubscriptionGet, contracts.SubscriptionRef{ID: id}); err != nil {
			return err
		}
		if sub.State == contracts.SubCancelled && state != contracts.SubCancelled {
			t.Fatalf("subscription cancelled (%s) instead of becoming %s", sub.Reason, state)
		}
		if sub.State != state {
			return fmt.Errorf("subscription is %s, want %s", sub.State, state)
		}
		return nil
	})
	return sub
}

// listen subscribes, as the edge does for a connected user, to the user's push subject.
func listen(t *testing.T, edge *userConn, userID string) <-chan *nats.Msg {
	t.Helper()
	subject, err := contracts.PushUserSubject(userID)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *nats.Msg, 64)
	sub, err := edge.nc.ChanSubscribe(subject, ch)
	if err != nil {
		t.Fatalf("edge subscribes to %s: %v", subject, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := edge.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

// nextPush returns the next push of topic, skipping others.
func nextPush(t *testing.T, ch <-chan *nats.Msg, topic string) contracts.Push {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case msg := <-ch:
			var p contracts.Push
			if err := json.Unmarshal(msg.Data, &p); err != nil {
				t.Fatalf("push %s: %v", msg.Data, err)
			}
			if p.Topic == topic {
				return p
			}
		case <-deadline:
			t.Fatalf("no %s push within a minute", topic)
		}
	}
}

// nextNotification returns the next notification pushed, which must have sequence seq.
func nextNotification(t *testing.T, ch <-chan *nats.Msg, seq uint64) contracts.Notification {
	t.Helper()
	p := nextPush(t, ch, contracts.PushTopicNotification)
	var n contracts.Notification
	if err := json.Unmarshal(p.Body, &n); err != nil {
		t.Fatalf("notification push %s: %v", p.Body, err)
	}
	if p.Seq != seq || n.Seq != seq {
		t.Errorf("notification push seq %d (body %d), want %d", p.Seq, n.Seq, seq)
	}
	return n
}

// chatFlow opens a room about the product as the buyer (chat asks catalog.v1.get_product who
// the seller is), sends a message, and the seller's edge hears it on the seller's push
// subject; the seller reads it back from the history.
func chatFlow(t *testing.T, c *bus.Client, edge *userConn, m market) (roomID string) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	buyer, seller := bus.WithAuthToken(ctx, m.Buyer.Token), bus.WithAuthToken(ctx, m.Seller.Token)
	pushes := listen(t, edge, m.Seller.ID)
	room, err := bus.Call(buyer, c, contracts.ChatOpenRoom, contracts.ChatOpenRoomRequest{ProductID: m.Product.ID})
	if err != nil {
		t.Fatalf("chat.open_room: %v", err)
	}
	if room.SellerID != m.Seller.ID || room.ProductTitle != m.Product.Title {
		t.Errorf("room %+v: want the product's seller and title from the catalog", room)
	}
	ack, err := bus.Call(buyer, c, contracts.ChatSend, contracts.ChatSendRequest{RoomID: room.ID, Text: "Is it 4K?", ClientMsgID: "deploy-1"})
	if err != nil {
		t.Fatalf("chat.send: %v", err)
	}
	var msg contracts.ChatMessage
	p := nextPush(t, pushes, contracts.PushTopicChatMessage)
	if err := json.Unmarshal(p.Body, &msg); err != nil || msg.ID != ack.MessageID {
		t.Errorf("chat push %s (%v): want message %s", p.Body, err, ack.MessageID)
	}
	h, err := bus.Call(seller, c, contracts.ChatHistory, contracts.ChatHistoryRequest{RoomID: room.ID})
	if err != nil || len(h.Items) != 1 || h.Items[0].Text != "Is it 4K?" {
		t.Errorf("chat.history as the seller: %+v, %v", h, err)
	}
	return room.ID
}
