package docinbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/docinbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

var stream = contracts.StreamSpec{
	Name: "DOCINBOX", Subjects: []string{"evt.doctest.>"}, Storage: contracts.FileStorage, Replicas: 1,
	MaxAge: time.Hour, Duplicates: time.Minute,
}

type viewed struct {
	Product string `json:"product"`
}

var evViewed = contracts.Event[viewed]{Stream: stream, Domain: "doctest", Name: "viewed", Version: 1}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func runtime(t *testing.T) *bus.Runtime {
	rt, err := bus.New(moatest.NATS(t).Conn(t), bus.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	if err := rt.EnsureStreams(ctxT(t), stream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	return rt
}

// A view counter: a non-idempotent $inc per event, made exactly-once by UpdateOnce. Every event
// is delivered twice more (re-published under new message ids), and the inbox's own records are
// deleted in between so its fast path cannot help: only the receipts in the documents can.
func TestUpdateOnceMakesACounterExactlyOnce(t *testing.T) {
	db := moatest.MongoDB(t)
	rt := runtime(t)
	views := db.Collection("views")
	var runs, dups atomic.Int64
	h := bus.OnEvent(evViewed, func(ctx context.Context, e bus.Event[viewed]) error {
		runs.Add(1)
		_, err := docinbox.UpdateOnce(ctx, views, bson.D{{Key: "_id", Value: e.Data.Product}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "views", Value: 1}}}}, true)
		return err
	})
	inbox := docinbox.Inbox(db, "views", docinbox.OnDuplicate(func(context.Context, *bus.Msg, docinbox.Receipt) { dups.Add(1) }))
	spec := contracts.ConsumerSpec{Stream: stream, Durable: "views"}
	if _, err := rt.Consume(ctxT(t), "test", spec, h, bus.WithConsumerMiddleware(inbox), bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4)); err != nil {
		t.Fatal(err)
	}
	const products, perProduct = 4, 10
	var envs []contracts.Envelope
	for i := range products * perProduct {
		p := "p" + strconv.Itoa(i%products)
		env, err := bus.Emit(ctxT(t), rt, "test", evViewed, p, viewed{Product: p})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	total := int64(len(envs))
	moatest.Eventually(t, 30*time.Second, func() bool { return runs.Load() == total }, "first deliveries")
	// The middleware's records say "done" for all of them: the first copies are skipped there.
	republish(t, rt.JetStream(), envs, "a")
	moatest.Eventually(t, 30*time.Second, func() bool { return dups.Load() == total }, "copies skipped by the inbox records (%d)", dups.Load())
	// Without the records, the copies reach the handler, and the receipts absorb them.
	if _, err := db.Collection(docinbox.Collection).DeleteMany(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	republish(t, rt.JetStream(), envs, "b")
	moatest.Eventually(t, 30*time.Second, func() bool { return runs.Load() == 2*total }, "second copies reached the handler")
	for i := range products {
		var doc struct {
			Views int `bson:"views"`
		}
		if err := views.FindOne(ctxT(t), bson.D{{Key: "_id", Value: "p" + strconv.Itoa(i)}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc.Views != perProduct {
			t.Fatalf("product p%d has %d views, want %d", i, doc.Views, perProduct)
		}
	}
	t.Logf("events=%d delivered=%d handler runs=%d skipped by records=%d absorbed by receipts=%d", total, 3*total, runs.Load(), dups.Load(), runs.Load()-total)
}

func republish(t *testing.T, js jetstream.JetStream, envs []contracts.Envelope, round string) {
	t.Helper()
	for _, env := range envs {
		m, err := bus.EnvelopeMsg(evViewed.Subject(env.Key), env)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set(jetstream.MsgIDHeader, env.ID+"-"+round)
		if _, err := js.PublishMsg(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInsertOnce(t *testing.T) {
	db := moatest.MongoDB(t)
	c := db.Collection("history")
	ctx := docinbox.WithReceipt(ctxT(t), docinbox.Receipt{Consumer: "history", EventID: "e1"})
	for i, want := range []bool{true, false} {
		ok, err := docinbox.InsertOnce(ctx, c, bson.D{{Key: "query", Value: "shoes"}})
		if err != nil || ok != want {
			t.Fatalf("insert %d: applied=%v err=%v, want %v", i, ok, err, want)
		}
	}
	// A caller-chosen deterministic _id works the same way.
	for i, want := range []bool{true, false} {
		ok, err := docinbox.InsertOnce(ctx, c, bson.D{{Key: "_id", Value: "order-7"}})
		if err != nil || ok != want {
			t.Fatalf("insert with _id %d: applied=%v err=%v, want %v", i, ok, err, want)
		}
	}
	if n, _ := c.CountDocuments(ctxT(t), bson.D{}); n != 2 {
		t.Fatalf("%d documents, want 2", n)
	}
}

func TestUpdateOnceRules(t *testing.T) {
	db := moatest.MongoDB(t)
	c := db.Collection("things")
	ctx := docinbox.WithReceipt(ctxT(t), docinbox.Receipt{Consumer: "c", EventID: "e1"})
	inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}
	if _, err := docinbox.UpdateOnce(ctxT(t), c, bson.D{{Key: "_id", Value: "x"}}, inc, true); err == nil {
		t.Fatal("no receipt in context: want an error")
	}
	if _, err := docinbox.UpdateOnce(ctx, c, bson.D{{Key: "name", Value: "x"}}, inc, true); err == nil {
		t.Fatal("upsert without _id: want an error")
	}
	if _, err := docinbox.UpdateOnce(ctx, c, bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "n", Value: 1}}, true); err == nil {
		t.Fatal("replacement document: want an error")
	}
	if _, err := docinbox.UpdateOnce(ctx, c, bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: docinbox.ReceiptsField, Value: 1}}}}, true); err == nil {
		t.Fatal("touching the receipts field: want an error")
	}
	if _, err := docinbox.UpdateOnce(ctx, c, bson.D{{Key: "_id", Value: "missing"}}, inc, false); !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("missing document without upsert: %v, want %s", err, contracts.ErrNotFound.Code)
	}
	// Upsert: created once; the duplicate collides on _id and is reported as not applied.
	for i, want := range []bool{true, false} {
		ok, err := docinbox.UpdateOnce(ctx, c, bson.D{{Key: "_id", Value: "x"}}, inc, true)
		if err != nil || ok != want {
			t.Fatalf("upsert %d: applied=%v err=%v, want %v", i, ok, err, want)
		}
	}
	// An update with its own $push keeps it.
	ctx2 := docinbox.WithReceipt(ctxT(t), docinbox.Receipt{Consumer: "c", EventID: "e2"})
	ok, err := docinbox.UpdateOnce(ctx2, c, bson.D{{Key: "_id", Value: "x"}}, bson.D{
		{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}, {Key: "$push", Value: bson.D{{Key: "tags", Value: "new"}}},
	}, false)
	if err != nil || !ok {
		t.Fatalf("update with $push: %v %v", ok, err)
	}
	var doc struct {
		N    int      `bson:"n"`
		Tags []string `bson:"tags"`
	}
	if err := c.FindOne(ctxT(t), bson.D{{Key: "_id", Value: "x"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.N != 2 || len(doc.Tags) != 1 {
		t.Fatalf("doc %+v, want n=2 and one tag", doc)
	}
}

// isFerretDB tells the embedded FerretDB from MongoDB (MOA_TEST_MONGO_URL).
func isFerretDB(t *testing.T, db *mongo.Database) bool {
	var info bson.M
	if err := db.RunCommand(ctxT(t), bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		t.Fatal(err)
	}
	_, ok := info["ferretdbVersion"]
	return ok
}

// The table in the package documentation, asserted: an upgrade that changes a row fails here.
func TestServerFeaturesAsDocumented(t *testing.T) {
	db := moatest.MongoDB(t)
	ferret := isFerretDB(t, db)
	tx, err := docinbox.SupportsTransactions(ctxT(t), db)
	if err != nil {
		t.Fatal(err)
	}
	if ferret && tx {
		t.Fatal("FerretDB reports transaction support; update the package documentation")
	}
	// Receipts window: bounded on MongoDB, growing on FerretDB ($slice ignored).
	c := db.Collection("window")
	h := docinbox.Inbox(db, "w", docinbox.WithWindow(2))(func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		_, err := docinbox.UpdateOnce(ctx, c, bson.D{{Key: "_id", Value: "d"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}, true)
		return nil, err
	})
	for i := range 5 {
		if _, err := h(ctxT(t), &bus.Msg{Data: []byte(`{"id":"e` + strconv.Itoa(i) + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	var doc bson.M
	if err := c.FindOne(ctxT(t), bson.D{{Key: "_id", Value: "d"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	receipts := len(doc[docinbox.ReceiptsField].(bson.A))
	t.Logf("ferretdb=%v transactions=%v receipts after 5 events under a window of 2: %d", ferret, tx, receipts)
	want := 2
	if ferret {
		want = 5
	}
	if receipts != want {
		t.Fatalf("%d receipts after 5 events under a window of 2, want %d", receipts, want)
	}
	if n := doc["n"]; n != int32(5) {
		t.Fatalf("n = %v, want 5", n)
	}
}

func TestWithTransactionsRefusesAServerWithoutThem(t *testing.T) {
	db := moatest.MongoDB(t)
	if !isFerretDB(t, db) {
		t.Skip("the server may support transactions")
	}
	var ran atomic.Bool
	h := docinbox.Inbox(db, "tx", docinbox.WithTransactions())(func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		ran.Store(true)
		return nil, nil
	})
	_, err := h(ctxT(t), &bus.Msg{Data: []byte(`{"id":"e1"}`)})
	if !errors.Is(err, contracts.ErrUnavailable) || ran.Load() {
		t.Fatalf("got %v (handler ran: %v), want %s before the handler", err, ran.Load(), contracts.ErrUnavailable.Code)
	}
}

func TestCleanupDeletesOldRecords(t *testing.T) {
	db := moatest.MongoDB(t)
	h := docinbox.Inbox(db, "clean")(func(ctx context.Context, m *bus.Msg) ([]byte, error) { return nil, nil })
	for i := range 3 {
		if _, err := h(ctxT(t), &bus.Msg{Data: []byte(`{"id":"e` + strconv.Itoa(i) + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := docinbox.Cleanup(ctxT(t), db, time.Hour); err != nil || n != 0 {
		t.Fatalf("cleanup of fresh records: %d, %v", n, err)
	}
	if n, err := docinbox.Cleanup(ctxT(t), db, time.Nanosecond); err != nil || n != 3 {
		t.Fatalf("cleanup of old records: %d, %v; want 3", n, err)
	}
}

// A record processed in the same millisecond as the cutoff but before it is old: BSON keeps
// milliseconds only, so without rounding the cutoff up it stayed (TestCleanupDeletesOldRecords
// failed about 15 times in 40 on this).
func TestCleanupDeletesARecordFromTheCutoffsMillisecond(t *testing.T) {
	db := moatest.MongoDB(t)
	ms := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if _, err := db.Collection(docinbox.Collection).InsertOne(ctxT(t), bson.D{
		{Key: "_id", Value: "clean/e0"}, {Key: "processed_at", Value: ms.Add(200 * time.Microsecond)},
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := docinbox.CleanupBefore(ctxT(t), db, ms); err != nil || n != 0 {
		t.Fatalf("cleanup before the record's millisecond: %d, %v; want 0", n, err)
	}
	if n, err := docinbox.CleanupBefore(ctxT(t), db, ms.Add(500*time.Microsecond)); err != nil || n != 1 {
		t.Fatalf("cleanup with a cutoff 300µs after the record, in its millisecond: %d, %v; want 1", n, err)
	}
}
