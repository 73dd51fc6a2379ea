package chat_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/chat/adapters"
)

func TestHistoryPagesNewestFirst(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	var sent []string // message ids, oldest first
	for i := range 25 {
		who := consumer
		if i%3 == 0 {
			who = seller
		}
		sent = append(sent, f.send(who, r.ID, fmt.Sprintf("message %d", i)).MessageID)
	}
	var got []string
	req := contracts.ChatHistoryRequest{RoomID: r.ID, Limit: 10}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("history does not end")
		}
		page, err := f.chat.History(f.as(consumer), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Items {
			got = append(got, m.ID)
		}
		if !page.HasMore {
			break
		}
		req.Before = page.Items[len(page.Items)-1].ID
	}
	want := slices.Clone(sent)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("paged history\n got %v\nwant %v", got, want)
	}
	// A cursor with the default limit, and the bound on limits.
	page, err := f.chat.History(f.as(seller), contracts.ChatHistoryRequest{RoomID: r.ID, Before: sent[5]})
	if err != nil || len(page.Items) != 5 || page.Items[0].ID != sent[4] || page.HasMore {
		t.Fatalf("history before the 6th message: %d items, more %v, %v", len(page.Items), page.HasMore, err)
	}
	_, err = f.chat.History(f.as(seller), contracts.ChatHistoryRequest{RoomID: r.ID, Limit: contracts.ChatHistoryMax + 1})
	moatest.WantError(t, err, contracts.ErrValidation, "limit", "limit too large")
	_, err = f.chat.History(f.as(seller), contracts.ChatHistoryRequest{RoomID: r.ID, Before: uuid.NewString()})
	moatest.WantError(t, err, contracts.ErrNotFound, "before", "cursor that is no message")
	// A message of another room is no cursor here.
	other := f.room(consumer, seller)
	foreign := f.send(consumer, other.ID, "elsewhere").MessageID
	_, err = f.chat.History(f.as(seller), contracts.ChatHistoryRequest{RoomID: r.ID, Before: foreign})
	moatest.WantError(t, err, contracts.ErrNotFound, "before", "cursor from another room")
}

func TestMarkReadMovesUnreadCountsAndPushesReceipts(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	consumerIn := f.inbox(consumer)
	m1 := f.send(consumer, r.ID, "one")
	m2 := f.send(consumer, r.ID, "two")
	m3 := f.send(consumer, r.ID, "three")

	f.wantUnread(seller, 3, 1)
	f.wantUnread(consumer, 0, 0) // one's own messages are never unread
	f.wantRoomUnread(seller, r.ID, 3)

	rc, err := f.chat.MarkRead(f.as(seller), r.ID, m2.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	want := contracts.ChatReadReceipt{RoomID: r.ID, ReaderID: seller.UserID, UpToMessageID: m2.MessageID, UpToSentAt: m2.SentAt, Unread: 1}
	if rc != want {
		t.Fatalf("receipt = %+v, want %+v", rc, want)
	}
	if got := consumerIn.receipt(); got != want {
		t.Fatalf("pushed receipt = %+v, want %+v", got, want)
	}
	f.wantUnread(seller, 1, 1)
	f.wantRoomUnread(seller, r.ID, 1)

	// Marking an older message does not move the position back; it answers where it is and
	// pushes nothing: the next receipt the consumer gets is the one for m3.
	rc, err = f.chat.MarkRead(f.as(seller), r.ID, m1.MessageID)
	if err != nil || rc.UpToMessageID != m2.MessageID || rc.Unread != 1 {
		t.Fatalf("marking an older message = %+v, %v; want the position at %s", rc, err, m2.MessageID)
	}
	f.wantUnread(seller, 1, 1)
	if _, err := f.chat.MarkRead(f.as(seller), r.ID, m3.MessageID); err != nil {
		t.Fatal(err)
	}
	if got := consumerIn.receipt(); got.UpToMessageID != m3.MessageID || got.Unread != 0 {
		t.Fatalf("next pushed receipt = %+v, want one up to %s", got, m3.MessageID)
	}
	f.wantUnread(seller, 0, 0)

	// Replying reads the room: the seller's answer leaves the seller nothing unread, the
	// consumer one message.
	f.send(consumer, r.ID, "four")
	f.send(seller, r.ID, "yes, still open")
	f.wantUnread(seller, 0, 0)
	f.wantUnread(consumer, 1, 1)

	_, err = f.chat.MarkRead(f.as(seller), r.ID, uuid.NewString())
	moatest.WantError(t, err, contracts.ErrNotFound, "up_to_message_id", "unknown message")
	_, err = f.chat.MarkRead(f.as(seller), r.ID, "a b")
	moatest.WantError(t, err, contracts.ErrValidation, "up_to_message_id", "malformed message id")
}

func TestUnreadSpansRooms(t *testing.T) {
	f := start(t)
	seller := authntest.Seller()
	var rooms []contracts.ChatRoom
	for i := range 3 {
		c := authntest.Consumer()
		r := f.room(c, seller)
		rooms = append(rooms, r)
		for j := range i + 1 {
			f.send(c, r.ID, fmt.Sprintf("question %d", j))
		}
	}
	f.wantUnread(seller, 1+2+3, 3)
	last := f.lastMessage(seller, rooms[2].ID)
	if _, err := f.chat.MarkRead(f.as(seller), rooms[2].ID, last); err != nil {
		t.Fatal(err)
	}
	f.wantUnread(seller, 1+2, 2)
}

func TestRestartKeepsRoomsAndMessagesAndMigratesOnce(t *testing.T) {
	f := start(t)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	r := f.room(consumer, seller)
	ack := f.send(consumer, r.ID, "before the restart")
	f.Replica(t) // a second instance on the same database, as in a rolling restart

	v, err := adapters.Version(context.Background(), f.Mongo)
	if err != nil || v != adapters.LatestVersion() {
		t.Fatalf("schema version %d, %v; want %d", v, err, adapters.LatestVersion())
	}
	again, err := f.chat.Send(f.as(consumer), r.ID, "before the restart", ack.ClientMsgID)
	if err != nil || again.MessageID != ack.MessageID {
		t.Fatalf("retry across instances = %+v, %v; want %s", again, err, ack.MessageID)
	}
	if n := f.count("messages", bson.M{}); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func (f *fixture) wantUnread(p contracts.Principal, total int64, rooms int) {
	f.t.Helper()
	u, err := f.chat.Unread(f.as(p))
	if err != nil {
		f.t.Fatal(err)
	}
	if u.Total != total || u.Rooms != rooms {
		f.t.Fatalf("%s's unread = %+v, want %d in %d rooms", p.Role, u, total, rooms)
	}
}

func (f *fixture) wantRoomUnread(p contracts.Principal, roomID string, n int64) {
	f.t.Helper()
	list, err := f.chat.Rooms(f.as(p), contracts.ChatRoomsRequest{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, it := range list.Items {
		if it.Room.ID == roomID {
			if it.Unread != n {
				f.t.Fatalf("room %s shows %d unread, want %d", roomID, it.Unread, n)
			}
			return
		}
	}
	f.t.Fatalf("room %s is not in %s's list", roomID, p.Role)
}

func (f *fixture) lastMessage(p contracts.Principal, roomID string) string {
	f.t.Helper()
	page, err := f.chat.History(f.as(p), contracts.ChatHistoryRequest{RoomID: roomID, Limit: 1})
	if err != nil || len(page.Items) != 1 {
		f.t.Fatalf("last message of %s: %v", roomID, err)
	}
	return page.Items[0].ID
}
