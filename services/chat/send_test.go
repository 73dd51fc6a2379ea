package chat_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/moatest"
)

func TestSendStoresThenAcksThenPushesToBothMembers(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	sellerIn, consumerIn := f.inbox(seller), f.inbox(consumer)

	ack, err := f.chat.Send(f.as(consumer), r.ID, "  Is the family plan\r\nstill open?  ", "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if !contracts.IsToken(ack.MessageID) || ack.RoomID != r.ID || ack.ClientMsgID != "c-1" || ack.SentAt.IsZero() || ack.Duplicate {
		t.Fatalf("ack = %+v", ack)
	}
	// The ack means stored: the message is in the store and in history the moment it arrives.
	if n := f.count("messages", bson.M{"_id": ack.MessageID}); n != 1 {
		t.Fatalf("%d stored messages with the acked id, want 1", n)
	}
	page, err := f.chat.History(f.as(seller), contracts.ChatHistoryRequest{RoomID: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := contracts.ChatMessage{ID: ack.MessageID, RoomID: r.ID, SenderID: consumer.UserID,
		Text: "Is the family plan\nstill open?", ClientMsgID: "c-1", SentAt: ack.SentAt}
	if len(page.Items) != 1 || page.Items[0] != want || page.HasMore {
		t.Fatalf("history = %+v, want [%+v]", page, want)
	}
	// The recipient's connections get it live, and so do the sender's other connections.
	for who, in := range map[string]*inbox{"seller": sellerIn, "consumer": consumerIn} {
		if got := in.message(); got != want {
			t.Fatalf("%s's push = %+v, want %+v", who, got, want)
		}
	}
}

func TestSendIsIdempotentPerClientMessageID(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)

	first, err := f.chat.Send(f.as(consumer), r.ID, "hello", "retry-me")
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.chat.Send(f.as(consumer), r.ID, "hello", "retry-me")
	if err != nil {
		t.Fatal(err)
	}
	if again.MessageID != first.MessageID || !again.SentAt.Equal(first.SentAt) || !again.Duplicate {
		t.Fatalf("retried send = %+v, want the first ack %+v marked duplicate", again, first)
	}
	// Concurrent retries (a client retrying while the first attempt is still in flight) also
	// end with one message.
	errs := make(chan error, 10)
	ids := make(chan string, 10)
	for range 10 {
		go func() {
			a, err := f.chat.Send(f.as(consumer), r.ID, "racing", "race-1")
			errs <- err
			ids <- a.MessageID
		}()
	}
	var raced string
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		id := <-ids
		if raced == "" {
			raced = id
		}
		if id != raced {
			t.Fatalf("concurrent sends with one client_msg_id acked %s and %s", raced, id)
		}
	}
	// The same client message id from the other member is that member's own message.
	theirs, err := f.chat.Send(f.as(seller), r.ID, "hello", "retry-me")
	if err != nil || theirs.MessageID == first.MessageID || theirs.Duplicate {
		t.Fatalf("seller's send with the consumer's client_msg_id = %+v, %v", theirs, err)
	}
	// Reusing a client message id for another text is a client bug, and says so.
	_, err = f.chat.Send(f.as(consumer), r.ID, "something else", "retry-me")
	moatest.WantError(t, err, contracts.ErrConflict, "client_msg_id", "reused client_msg_id")

	if n := f.count("messages", bson.M{"room_id": r.ID}); n != 3 {
		t.Fatalf("%d messages stored, want 3 (hello, racing, the seller's hello)", n)
	}
}

func TestNonMembersCannotUseARoom(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	ack := f.send(consumer, r.ID, "private")
	for name, stranger := range map[string]contracts.Principal{
		"another consumer": authntest.Consumer(), "another seller": authntest.Seller(),
	} {
		ctx := f.as(stranger)
		_, err := f.chat.Send(ctx, r.ID, "let me in", uuid.NewString())
		moatest.WantError(t, err, contracts.ErrNotFound, "room_id", name+" sends")
		_, err = f.chat.History(ctx, contracts.ChatHistoryRequest{RoomID: r.ID})
		moatest.WantError(t, err, contracts.ErrNotFound, "room_id", name+" reads history")
		_, err = f.chat.MarkRead(ctx, r.ID, ack.MessageID)
		moatest.WantError(t, err, contracts.ErrNotFound, "room_id", name+" marks read")
	}
	// A stranger cannot tell a room they are not in from one that does not exist.
	_, err := f.chat.Send(f.as(consumer), uuid.NewString(), "anyone?", uuid.NewString())
	moatest.WantError(t, err, contracts.ErrNotFound, "room_id", "send to a room that does not exist")
	_, err = f.chat.Send(context.Background(), r.ID, "anonymous", uuid.NewString())
	moatest.WantError(t, err, contracts.ErrUnauthenticated, "", "anonymous send")
	if n := f.count("messages", bson.M{}); n != 1 {
		t.Fatalf("%d messages stored, want only the member's one", n)
	}
}

func TestSendValidation(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	long := strings.Repeat("가", contracts.ChatMaxTextLen)
	cases := []struct {
		name, room, text, cmid, field string
	}{
		{"empty text", r.ID, "", "a", "text"},
		{"blank text", r.ID, " \n\t ", "a", "text"},
		{"text too long", r.ID, long + "가", "a", "text"},
		{"control character", r.ID, "bell\a", "a", "text"},
		{"tab", r.ID, "a\tb", "a", "text"},
		{"room id with a dot", "a.b", "hi", "a", "room_id"},
		{"room id with a wildcard", "*", "hi", "a", "room_id"},
		{"empty room id", "", "hi", "a", "room_id"},
		{"empty client_msg_id", r.ID, "hi", "", "client_msg_id"},
		{"client_msg_id with a space", r.ID, "hi", "a b", "client_msg_id"},
		{"client_msg_id too long", r.ID, "hi", strings.Repeat("x", contracts.ChatMaxClientMsgIDLen+1), "client_msg_id"},
	}
	for _, c := range cases {
		_, err := f.chat.Send(f.as(consumer), c.room, c.text, c.cmid)
		moatest.WantError(t, err, contracts.ErrValidation, c.field, c.name)
	}
	if n := f.count("messages", bson.M{}); n != 0 {
		t.Fatalf("%d messages stored after invalid sends, want 0", n)
	}
	// The longest text is accepted whole, counted in characters, not bytes.
	ack := f.send(consumer, r.ID, " "+long+"\n")
	page, err := f.chat.History(f.as(consumer), contracts.ChatHistoryRequest{RoomID: r.ID})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != ack.MessageID || page.Items[0].Text != long {
		t.Fatalf("history after the longest message: %d items, %v", len(page.Items), err)
	}
}

func TestSendWhileTheStoreIsDownIsNotAckedAndItsRetryStoresOnce(t *testing.T) {
	dir, addr := t.TempDir(), "127.0.0.1:"+strconv.Itoa(moatest.FreePort(t))
	store := startStore(t, dir, addr)
	f := startOn(t, store.URI())
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	sellerIn := f.inbox(seller)

	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(f.as(consumer), 3*time.Second)
	defer cancel()
	_, err := f.chat.Send(ctx, r.ID, "are you there?", "down-1")
	var ce *contracts.Error
	if !errors.As(err, &ce) || !ce.Retryable() {
		t.Fatalf("send with the store down: %v, want a retryable error", err)
	}

	startStore(t, dir, addr)
	var ack contracts.ChatSendAck
	moatest.WaitFor(t, 30*time.Second, func() error {
		ack, err = f.chat.Send(f.as(consumer), r.ID, "are you there?", "down-1")
		return err
	})
	if n := f.count("messages", bson.M{"room_id": r.ID}); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	// Nothing was pushed for the failed attempt: the first push is the stored message.
	if got := sellerIn.message(); got.ID != ack.MessageID {
		t.Fatalf("first push carries message %s, want the acked %s", got.ID, ack.MessageID)
	}
	// Stopping the service (before this store, which the test's clean-up closes first) records
	// the room behind the acknowledged message.
	f.Stop(t)
	var room struct {
		Last struct {
			ID string `bson:"_id"`
		} `bson:"last"`
	}
	if err := f.Mongo.Collection("rooms").FindOne(context.Background(), bson.M{"_id": r.ID}).Decode(&room); err != nil || room.Last.ID != ack.MessageID {
		t.Fatalf("room after stop: last %q, %v; want the acked %s", room.Last.ID, err, ack.MessageID)
	}
}

// startStore starts an embedded FerretDB on dir and addr, closed at the end of the test.
func startStore(t *testing.T, dir, addr string) *docstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := docstore.Start(ctx, docstore.Config{Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Concurrent sends are stored in shared batches; every room must still end up with its own
// newest message as its last one, and unread counts must match what each side did not send.
func TestConcurrentSendsKeepEveryRoomConsistent(t *testing.T) {
	f := start(t)
	seller := authntest.Seller()
	type member struct {
		room     contracts.ChatRoom
		consumer contracts.Principal
	}
	var rooms []member
	for range 3 {
		c := authntest.Consumer()
		rooms = append(rooms, member{room: f.room(c, seller), consumer: c})
	}
	const perRoom = 20
	errs := make(chan error, 3*perRoom)
	for _, m := range rooms {
		for i := range perRoom {
			go func() {
				_, err := f.chat.Send(f.as(m.consumer), m.room.ID, "message "+strconv.Itoa(i), uuid.NewString())
				errs <- err
			}()
		}
	}
	for range 3 * perRoom {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f.wantUnread(seller, 3*perRoom, 3)
	list, err := f.chat.Rooms(f.as(seller), contracts.ChatRoomsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range list.Items {
		newest := f.lastMessage(seller, it.Room.ID)
		if it.LastMessage == nil || it.LastMessage.ID != newest || it.Unread != perRoom {
			t.Fatalf("room %s lists last message %+v and %d unread; want %s and %d", it.Room.ID, it.LastMessage, it.Unread, newest, perRoom)
		}
	}
	for _, m := range rooms {
		f.wantUnread(m.consumer, 0, 0)
	}
}
