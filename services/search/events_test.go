package search_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search/ports"
)

func TestCatalogSearchedEventsAreRecordedExactlyOnce(t *testing.T) {
	t.Parallel()
	f := start(t)
	user := authntest.Consumer()
	ctx := f.as(t, user)

	at := time.Now().Add(-time.Minute).UTC()
	ev, seq := f.emit(t, user.UserID, "  Yoga Mat ", at)
	f.waitConsumed(t, seq)
	r, err := f.search.Recent(ctx, 0)
	if err != nil || !slices.Equal(queries(r), []string{"yoga mat"}) {
		t.Fatalf("recent = %q, %v; want [yoga mat]", queries(r), err)
	}
	// The search's own time is kept (to the nanosecond), not the time it was consumed.
	if !r[0].At.Equal(at) {
		t.Fatalf("recent time %v, want the event's %v", r[0].At, at)
	}

	// The same event again, published past the stream's duplicate window (a new Nats-Msg-Id),
	// reaches the consumer a second time: it must count once.
	seq = f.publish(t, contracts.CatalogSearched.Subject(user.UserID), ev, "republished-"+ev.ID)
	f.waitConsumed(t, seq)
	top, err := f.search.Popular(t.Context(), contracts.SearchPopularRequest{})
	if err != nil || len(top.Items) != 1 || top.Items[0] != (contracts.PopularSearch{Query: "yoga mat", Count: 1}) {
		t.Fatalf("popular after a redelivery = %+v, %v; want yoga mat counted once", top.Items, err)
	}

	// A redelivered event does not bring back an entry the user deleted since.
	if ok, err := f.search.DeleteRecent(ctx, "yoga mat"); err != nil || !ok {
		t.Fatalf("DeleteRecent = %v, %v", ok, err)
	}
	seq = f.publish(t, contracts.CatalogSearched.Subject(user.UserID), ev, "again-"+ev.ID)
	f.waitConsumed(t, seq)
	if r, err := f.search.Recent(ctx, 0); err != nil || len(r) != 0 {
		t.Fatalf("recent after redelivering a deleted search = %q, %v; want empty", queries(r), err)
	}
	if n, err := f.Mongo.Collection("searches").CountDocuments(t.Context(), map[string]any{}); err != nil || n != 1 {
		t.Fatalf("journal holds %d searches (%v), want 1", n, err)
	}
}

func TestAPartlyAppliedSearchIsCompletedByTheRedelivery(t *testing.T) {
	t.Parallel()
	f := start(t)
	user := authntest.Consumer()
	// A crash of the first schema's code after the journal insert but before the other steps
	// left this behind.
	env, subject, err := bus.NewEnvelope(t.Context(), nil, "catalog", contracts.CatalogSearched, user.UserID,
		contracts.SearchedData{UserID: user.UserID, Query: "boxing", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	bucket := time.Now().UTC().Truncate(time.Hour)
	if _, err := f.Mongo.Collection("searches").InsertOne(t.Context(), map[string]any{
		"_id": env.ID, "user_id": user.UserID, "query": "boxing", "ts": time.Now().UnixNano(), "bucket": bucket, "applied": false,
	}); err != nil {
		t.Fatal(err)
	}
	f.waitConsumed(t, f.publish(t, subject, env, env.ID))
	if r, err := f.search.Recent(f.as(t, user), 0); err != nil || !slices.Equal(queries(r), []string{"boxing"}) {
		t.Fatalf("recent = %q, %v; want [boxing]", queries(r), err)
	}
	top, err := f.search.Popular(t.Context(), contracts.SearchPopularRequest{})
	if err != nil || len(top.Items) != 1 || top.Items[0].Count != 1 {
		t.Fatalf("popular = %+v, %v; want boxing once", top.Items, err)
	}
	// Completed now: a further redelivery counts nothing.
	f.waitConsumed(t, f.publish(t, subject, env, "again-"+env.ID))
	top, err = f.search.Popular(t.Context(), contracts.SearchPopularRequest{})
	if err != nil || len(top.Items) != 1 || top.Items[0].Count != 1 {
		t.Fatalf("popular after another redelivery = %+v, %v; want boxing once", top.Items, err)
	}
}

func TestEventsBreakingTheContractAreDeadLettered(t *testing.T) {
	t.Parallel()
	f := start(t)
	user := authntest.Consumer()
	_, bad := f.emit(t, user.UserID, "   ", time.Now())
	_, good := f.emit(t, user.UserID, "after the bad one", time.Now())
	f.waitConsumed(t, good)
	if r, err := f.search.Recent(f.as(t, user), 0); err != nil || !slices.Equal(queries(r), []string{"after the bad one"}) {
		t.Fatalf("recent = %q, %v; the event after a bad one must be applied", queries(r), err)
	}
	dlq, err := f.Runtime.JetStream().Stream(t.Context(), contracts.StreamDeadLetter.Name)
	if err != nil {
		t.Fatal(err)
	}
	var msg *jetstream.RawStreamMsg
	moatest.WaitFor(t, 10*time.Second, func() error {
		msg, err = dlq.GetLastMsgForSubject(t.Context(), bus.DeadLetterSubject(contracts.StreamCatalog.Name, ports.CatalogSearchedConsumer.Durable))
		return err
	})
	if code := msg.Header.Get(bus.HeaderDLQErrorCode); code != contracts.ErrValidation.Code {
		t.Fatalf("dead letter code %q, want %s", code, contracts.ErrValidation.Code)
	}
	if s := msg.Header.Get(bus.HeaderDLQSequence); s != itoa(bad) {
		t.Fatalf("dead letter of sequence %s, want %d", s, bad)
	}
}

func TestRestartKeepsHistoryAndMigratesOnce(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := f.as(t, authntest.Consumer())
	if _, err := f.search.Record(ctx, "before restart"); err != nil {
		t.Fatal(err)
	}
	f.Stop(t)
	_, err := f.search.Recent(ctx, 0)
	moatest.WantError(t, err, contracts.ErrNoResponders, "", "recent while stopped")

	f.Start(t) // migrations run again and find nothing to do
	if r, err := f.search.Recent(ctx, 0); err != nil || !slices.Equal(queries(r), []string{"before restart"}) {
		t.Fatalf("recent after restart = %q, %v", queries(r), err)
	}
	var v struct {
		Version int `bson:"version"`
	}
	if err := f.Mongo.Collection("schema").FindOne(t.Context(), map[string]any{"_id": "version"}).Decode(&v); err != nil || v.Version != 3 {
		t.Fatalf("schema version %d (%v), want 3", v.Version, err)
	}
}
