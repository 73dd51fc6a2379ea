package docinbox_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/docinbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// Versioned events of one key that reach the consumer out of version order, as a crashed
// instance's redelivered events do behind the ones it never received, are applied in version
// order: the inbox holds each back until its predecessor is recorded.
func TestInboxAppliesVersionedEventsInVersionOrder(t *testing.T) {
	db := moatest.MongoDB(t)
	rt := runtime(t)
	log := db.Collection("ordered_log")
	h := bus.OnEvent(evViewed, func(ctx context.Context, e bus.Event[viewed]) error {
		_, err := docinbox.UpdateOnce(ctx, log, bson.D{{Key: "_id", Value: e.Key}},
			bson.D{{Key: "$push", Value: bson.D{{Key: "seen", Value: e.Data.Product}}}}, true)
		return err
	})
	spec := contracts.ConsumerSpec{Stream: stream, Durable: "ordered", AckWait: time.Second}
	if _, err := rt.Consume(ctxT(t), "test", spec, h, bus.WithConsumerMiddleware(docinbox.Inbox(db, "ordered")),
		bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4)); err != nil {
		t.Fatal(err)
	}
	// Stream order 4 5 6 1 2 3 (versions), as after a crash holding 1..3.
	for _, v := range []int64{4, 5, 6, 1, 2, 3} {
		publishVersioned(t, rt.JetStream(), "K", v)
	}
	want := []string{"v1", "v2", "v3", "v4", "v5", "v6"}
	var got []string
	moatest.Eventually(t, 30*time.Second, func() bool {
		var doc struct {
			Seen []string `bson:"seen"`
		}
		if err := log.FindOne(ctxT(t), bson.D{{Key: "_id", Value: "K"}}).Decode(&doc); err != nil {
			return false
		}
		got = doc.Seen
		return len(got) >= len(want)
	}, "all six applied")
	if !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
}

// publishVersioned publishes an event of key stamped with version v, as an outbox does.
func publishVersioned(t *testing.T, js jetstream.JetStream, key string, v int64) {
	t.Helper()
	env, subject, err := bus.NewEnvelope(ctxT(t), nil, "test", evViewed, key, viewed{Product: "v" + string(rune('0'+v))})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(struct {
		contracts.Envelope
		KeyVersion int64 `json:"key_version"`
	}{env, v})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, env.ID)
	if _, err := js.PublishMsg(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
}
