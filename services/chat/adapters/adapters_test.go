package adapters

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/chat/domain"
)

// store returns a migrated chat database (embedded FerretDB, or MOA_TEST_MONGO_URL).
func store(t *testing.T) *mongo.Database {
	t.Helper()
	db := moatest.MongoDB(t)
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

func repository(t *testing.T, db *mongo.Database) *Repository {
	t.Helper()
	r := NewRepository(db, DefaultWriters)
	t.Cleanup(r.Close)
	return r
}

func newRoom(t *testing.T, r *Repository) domain.Room {
	t.Helper()
	room, err := domain.NewRoom(domain.Product{ID: uuid.NewString(), SellerID: uuid.NewString(), Title: "plan"},
		uuid.NewString(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if room, err = r.CreateRoom(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	return room
}

func message(t *testing.T, room domain.Room, sender, text string) domain.Message {
	t.Helper()
	m, err := domain.NewMessage(uuid.Must(uuid.NewV7()).String(), room, sender, text, uuid.NewString(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The room is recorded behind the message's insert, but a read of rooms through the repository
// sees every message stored before it.
func TestRoomReadsSeeEveryStoredMessage(t *testing.T) {
	ctx := context.Background()
	r := repository(t, store(t))
	room := newRoom(t, r)
	var last domain.Message
	for i := range 5 {
		m := message(t, room, room.ConsumerID, fmt.Sprintf("message %d", i))
		if _, _, err := r.AppendMessage(ctx, m, domain.SideConsumer); err != nil {
			t.Fatal(err)
		}
		last = m
	}
	got, err := r.Room(ctx, room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Last == nil || got.Last.ID != last.ID || got.Activity != last.Pos() || got.ConsumerRead != last.Pos() || got.SellerRead != "" {
		t.Fatalf("room after 5 sends: last %+v, activity %s, reads %q/%q; want the last message %s everywhere but the seller's read",
			got.Last, got.Activity, got.ConsumerRead, got.SellerRead, last.Pos())
	}
	list, err := r.RoomsAwaiting(ctx, room.SellerID)
	if err != nil || len(list) != 1 || list[0].ID != room.ID {
		t.Fatalf("seller's rooms awaiting a reply = %v, %v; want the room", list, err)
	}
}

// A message stored but not recorded in its room (the process died in between) is recorded by
// the next start's Recover; one recorded already is left as it is.
func TestRecoverRecordsWhatACrashLeftBehind(t *testing.T) {
	ctx := context.Background()
	db := store(t)
	r := repository(t, db)
	room := newRoom(t, r)
	first := message(t, room, room.ConsumerID, "recorded")
	if _, _, err := r.AppendMessage(ctx, first, domain.SideConsumer); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Room(ctx, room.ID); err != nil { // records it
		t.Fatal(err)
	}
	// The seller's reply, stored as the writer stores it, then the process "dies".
	reply := message(t, room, room.SellerID, "stored, not recorded")
	if _, err := db.Collection(collMessages).InsertOne(ctx, toMsgDoc(reply)); err != nil {
		t.Fatal(err)
	}
	var stored roomDoc
	if err := db.Collection(collRooms).FindOne(ctx, bson.M{"_id": room.ID}).Decode(&stored); err != nil {
		t.Fatal(err)
	}
	if stored.LastPos != string(first.Pos()) {
		t.Fatalf("before recovery the room's last is %s, want %s (the reply unrecorded)", stored.LastPos, first.Pos())
	}

	again := repository(t, db)
	if err := again.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := again.Room(ctx, room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Last == nil || got.Last.ID != reply.ID || got.SellerRead != reply.Pos() || got.ConsumerRead != first.Pos() || got.Activity != reply.Pos() {
		t.Fatalf("after recovery: last %+v, activity %s, reads consumer %s seller %s; want the reply last and read by the seller",
			got.Last, got.Activity, got.ConsumerRead, got.SellerRead)
	}
}

// The query plans of the chat's reads, as the store reports them (explain). On MongoDB
// (MOA_TEST_MONGO_URL; not run here) every read below must use an index. FerretDB 1.24 on SQLite
// pushes a filter on _id alone down to SQL, and no other; its plan is logged: even the _id
// lookups SCAN the table there, because FerretDB's WHERE clause (->'$._id') is not the
// expression its _id index is built on (->"_id"), so SQLite cannot use the index.
func TestReadsUseIndexesOnMongoDB(t *testing.T) {
	ctx := context.Background()
	db := store(t)
	r := repository(t, db)
	room := newRoom(t, r)
	m := message(t, room, room.ConsumerID, "hello")
	if _, _, err := r.AppendMessage(ctx, m, domain.SideConsumer); err != nil {
		t.Fatal(err)
	}
	historyFilter, historySort := historyQuery(room.ID, m.Pos())
	cases := []struct {
		name     string
		cmd      bson.D
		byIDOnly bool // FerretDB narrows it
	}{
		{"message by id", find(collMessages, bson.M{"_id": m.ID}, nil), true},
		{"room by id (members, writer's first read)", find(collRooms, bson.M{"_id": room.ID}, nil), true},
		{"history page", find(collMessages, historyFilter, historySort), false},
		{"unread count", bson.D{{Key: "count", Value: collMessages}, {Key: "query", Value: unreadFilter(room.ID, room.SellerID, "")}}, false},
		{"room list", find(collRooms, roomsFilter(room.ConsumerID, ""), newestActive), false},
	}
	for _, c := range cases {
		var res bson.M
		if err := db.RunCommand(ctx, bson.D{{Key: "explain", Value: c.cmd}}).Decode(&res); err != nil {
			t.Fatalf("%s: explain: %v", c.name, err)
		}
		if pushdown, ferret := res["filterPushdown"].(bool); ferret {
			plan := fmt.Sprint(res["queryPlanner"])
			t.Logf("%s on FerretDB: filterPushdown=%v, plan %s", c.name, pushdown, plan)
			if pushdown != c.byIDOnly {
				t.Errorf("%s: FerretDB filterPushdown = %v, want %v", c.name, pushdown, c.byIDOnly)
			}
			continue
		}
		plan := fmt.Sprint(res["queryPlanner"])
		t.Logf("%s on MongoDB: %s", c.name, plan)
		if !strings.Contains(plan, "IXSCAN") && !strings.Contains(plan, "IDHACK") && !strings.Contains(plan, "EXPRESS") {
			t.Errorf("%s: MongoDB plan uses no index: %s", c.name, plan)
		}
	}
}

func find(coll string, filter bson.M, sort bson.D) bson.D {
	cmd := bson.D{{Key: "find", Value: coll}, {Key: "filter", Value: filter}}
	if sort != nil {
		cmd = append(cmd, bson.E{Key: "sort", Value: sort})
	}
	return cmd
}

// While another room's messages stream in, a read right after each acknowledged send sees that
// send, and reading one room records that room alone (a full flush would hold up the writer).
func TestReadAfterSendWhileOtherRoomsSend(t *testing.T) {
	ctx := context.Background()
	r := repository(t, store(t))
	busy, quiet := newRoom(t, r), newRoom(t, r)
	for _, room := range []domain.Room{busy, quiet} { // as Send does: the rooms' members are known
		if _, err := r.Members(ctx, room.ID); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	stop := make(chan struct{})
	streamed := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				streamed <- nil
				return
			default:
			}
			if _, _, err := r.AppendMessage(ctx, message(t, busy, busy.ConsumerID, fmt.Sprint("busy ", i)), domain.SideConsumer); err != nil {
				streamed <- err
				return
			}
		}
	}()
	for i := range 10 {
		m := message(t, quiet, quiet.SellerID, fmt.Sprint("quiet ", i))
		if _, _, err := r.AppendMessage(ctx, m, domain.SideSeller); err != nil {
			t.Fatal(err)
		}
		got, err := r.Room(ctx, quiet.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Last == nil || got.Last.ID != m.ID || got.SellerRead != m.Pos() {
			t.Fatalf("send %d: room shows last %+v, seller read %s; want message %s", i, got.Last, got.SellerRead, m.ID)
		}
		list, err := r.RoomsAwaiting(ctx, quiet.ConsumerID)
		if err != nil || len(list) != 1 || list[0].Last == nil || list[0].Last.ID != m.ID {
			t.Fatalf("send %d: consumer's rooms awaiting = %+v, %v; want the room with message %s", i, list, err, m.ID)
		}
	}
	close(stop)
	if err := <-streamed; err != nil {
		t.Fatal(err)
	}
	// The busy room's last messages are still pending (unless they fell due on a slow
	// machine): reading the quiet room and its consumer's rooms leaves them.
	if _, err := r.Room(ctx, quiet.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RoomsAwaiting(ctx, quiet.ConsumerID); err != nil {
		t.Fatal(err)
	}
	s := r.w.shardOf(busy.ID)
	s.mu.Lock()
	_, pending := s.pending[busy.ID]
	s.mu.Unlock()
	if elapsed := time.Since(start); !pending && elapsed < flushEvery/2 {
		t.Fatalf("after %s the busy room has nothing pending: reading another room flushed it", elapsed)
	}
}
