package chat_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestOpenRoomTwiceReturnsTheSameRoom(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	pid := f.product(seller, "Video family plan")

	r1, err := f.chat.OpenRoom(f.as(consumer), pid)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ConsumerID != consumer.UserID || r1.SellerID != seller.UserID || r1.ProductID != pid ||
		r1.ProductTitle != "Video family plan" || !contracts.IsToken(r1.ID) || r1.CreatedAt.IsZero() {
		t.Fatalf("room = %+v", r1)
	}
	r2, err := f.chat.OpenRoom(f.as(consumer), pid)
	if err != nil {
		t.Fatal(err)
	}
	if r2 != r1 {
		t.Fatalf("second open = %+v, want the first room %+v", r2, r1)
	}
	// The same product id in upper case is the same product, hence the same room.
	r3, err := f.chat.OpenRoom(f.as(consumer), strings.ToUpper(pid))
	if err != nil || r3.ID != r1.ID {
		t.Fatalf("open with upper-case product id = %+v, %v; want room %s", r3, err, r1.ID)
	}
	if n := f.count("rooms", bson.M{}); n != 1 {
		t.Fatalf("%d rooms stored, want 1", n)
	}
	// Only creating asked the catalog.
	if n := f.catalog.calls.Load(); n != 1 {
		t.Fatalf("%d catalog calls, want 1", n)
	}

	// Another consumer gets a room of their own about the same product.
	other, err := f.chat.OpenRoom(f.as(authntest.Consumer()), pid)
	if err != nil || other.ID == r1.ID || other.SellerID != seller.UserID {
		t.Fatalf("other consumer's room = %+v, %v", other, err)
	}
}

func TestOpenRoomConcurrentlyCreatesOneRoom(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	pid := f.product(seller, "Music plan")
	ids := make(chan string, 8)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			r, err := f.chat.OpenRoom(f.as(consumer), pid)
			ids <- r.ID
			errs <- err
		}()
	}
	first := ""
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		id := <-ids
		if first == "" {
			first = id
		}
		if id != first {
			t.Fatalf("concurrent opens returned rooms %s and %s", first, id)
		}
	}
	if n := f.count("rooms", bson.M{}); n != 1 {
		t.Fatalf("%d rooms stored, want 1", n)
	}
}

func TestOpenRoomRules(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	pid := f.product(seller, "Cloud storage")

	_, err := f.chat.OpenRoom(context.Background(), pid)
	moatest.WantError(t, err, contracts.ErrUnauthenticated, "", "anonymous")
	_, err = f.chat.OpenRoom(f.as(seller), pid)
	moatest.WantError(t, err, contracts.ErrForbidden, "", "seller opens a room")
	_, err = f.chat.OpenRoom(f.as(consumer), uuid.NewString())
	moatest.WantError(t, err, contracts.ErrNotFound, "product_id", "unknown product")
	_, err = f.chat.OpenRoom(f.as(consumer), "not-a-uuid")
	moatest.WantError(t, err, contracts.ErrValidation, "product_id", "malformed product id")
	_, err = f.chat.OpenRoom(f.Issuer.Context(context.Background(), consumer), "")
	moatest.WantError(t, err, contracts.ErrValidation, "product_id", "empty product id")
	if n := f.count("rooms", bson.M{}); n != 0 {
		t.Fatalf("%d rooms stored after refused opens, want 0", n)
	}
}

func TestOpenExistingRoomWithoutTheCatalog(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	pid := f.product(seller, "News")
	r, err := f.chat.OpenRoom(f.as(consumer), pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.catalog.svc.Micro().Stop(); err != nil {
		t.Fatal(err)
	}
	// A room that exists opens without asking the catalog...
	again, err := f.chat.OpenRoom(f.as(consumer), pid)
	if err != nil || again.ID != r.ID {
		t.Fatalf("reopen with the catalog down = %+v, %v", again, err)
	}
	// ...while a new one cannot be opened, and says why.
	_, err = f.chat.OpenRoom(f.as(authntest.Consumer()), pid)
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Kind != contracts.KindUnavailable {
		t.Fatalf("new room with the catalog down: %v, want an unavailable error", err)
	}
}

func TestRoomEndpointIsForMembersOnly(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	for _, p := range []contracts.Principal{consumer, seller} {
		got, err := f.chat.Room(f.as(p), r.ID)
		if err != nil || got != r {
			t.Fatalf("room for %s = %+v, %v; want %+v", p.Role, got, err, r)
		}
	}
	_, err := f.chat.Room(f.as(authntest.Seller()), r.ID)
	moatest.WantError(t, err, contracts.ErrNotFound, "room_id", "another seller")
	_, err = f.chat.Room(f.as(consumer), uuid.NewString())
	moatest.WantError(t, err, contracts.ErrNotFound, "room_id", "room that does not exist")
	_, err = f.chat.Room(f.as(consumer), "room.>")
	moatest.WantError(t, err, contracts.ErrValidation, "room_id", "room id with subject characters")
	_, err = f.chat.Room(context.Background(), r.ID)
	moatest.WantError(t, err, contracts.ErrUnauthenticated, "", "anonymous")
	_, err = f.chat.Room(bus.WithAuthToken(context.Background(), f.Issuer.Expired(consumer)), r.ID)
	moatest.WantError(t, err, contracts.ErrTokenExpired, "", "expired token")
}

func TestRoomsListByActivityWithPaging(t *testing.T) {
	f := start(t)
	consumer := authntest.Consumer()
	var rooms []contracts.ChatRoom
	var sellers []contracts.Principal
	for range 3 {
		sellers = append(sellers, authntest.Seller())
		rooms = append(rooms, f.room(consumer, sellers[len(sellers)-1]))
	}
	// Newest room first; a message moves a room to the top.
	list, err := f.chat.Rooms(f.as(consumer), contracts.ChatRoomsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := roomIDs(list); !slices.Equal(got, []string{rooms[2].ID, rooms[1].ID, rooms[0].ID}) || list.HasMore {
		t.Fatalf("rooms = %v (more %v), want newest first", got, list.HasMore)
	}
	ack := f.send(consumer, rooms[0].ID, "hello")
	page1, err := f.chat.Rooms(f.as(consumer), contracts.ChatRoomsRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := roomIDs(page1); !slices.Equal(got, []string{rooms[0].ID, rooms[2].ID}) || !page1.HasMore {
		t.Fatalf("page 1 = %v (more %v)", got, page1.HasMore)
	}
	if lm := page1.Items[0].LastMessage; lm == nil || lm.ID != ack.MessageID || lm.Text != "hello" {
		t.Fatalf("last message = %+v, want %s", lm, ack.MessageID)
	}
	if page1.Items[1].LastMessage != nil {
		t.Fatalf("room without messages has last message %+v", page1.Items[1].LastMessage)
	}
	page2, err := f.chat.Rooms(f.as(consumer), contracts.ChatRoomsRequest{Limit: 2, Before: rooms[2].ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := roomIDs(page2); !slices.Equal(got, []string{rooms[1].ID}) || page2.HasMore {
		t.Fatalf("page 2 = %v (more %v)", got, page2.HasMore)
	}
	// The seller of one room sees only that room.
	sellerList, err := f.chat.Rooms(f.as(sellers[1]), contracts.ChatRoomsRequest{})
	if err != nil || !slices.Equal(roomIDs(sellerList), []string{rooms[1].ID}) {
		t.Fatalf("seller's rooms = %v, %v", roomIDs(sellerList), err)
	}
	_, err = f.chat.Rooms(f.as(authntest.Consumer()), contracts.ChatRoomsRequest{Before: rooms[0].ID})
	moatest.WantError(t, err, contracts.ErrNotFound, "before", "cursor of someone else's room")
	_, err = f.chat.Rooms(f.as(consumer), contracts.ChatRoomsRequest{Limit: contracts.ChatRoomsMax + 1})
	moatest.WantError(t, err, contracts.ErrValidation, "limit", "limit too large")
}

func roomIDs(l contracts.ChatRoomList) []string {
	out := make([]string, len(l.Items))
	for i, it := range l.Items {
		out[i] = it.Room.ID
	}
	return out
}
