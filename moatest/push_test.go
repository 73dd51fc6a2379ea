package moatest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// startIdle is a service that serves nothing: for what the kit does around any service.
func startIdle(context.Context, bus.Env) (bus.Component, error) {
	return bus.Stopper(func(context.Context) error { return nil }), nil
}

func TestServiceKitPushes(t *testing.T) {
	t.Parallel()
	s := moatest.Service(t, startIdle, moatest.With{NoIssuer: true})
	alice := s.Pushes(t, "alice")
	nc := s.NATS.Conn(t)
	send := func(subject, data string) {
		t.Helper()
		if err := nc.Publish(subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	send("push.user.bob", `{"topic":"chat.message","body":{"text":"not for alice"}}`)
	send("push.user.alice", `{"topic":"notify","seq":7,"body":{}}`)
	send("push.user.alice", `{"topic":"chat.read","body":{"up_to":"m1"}}`)
	send("push.user.alice", `{"topic":"chat.message","body":{"text":"hi"}}`)
	send("push.user.alice", `not json`)

	// Next takes pushes in order, only alice's.
	if p := alice.Next(t); p.Topic != "notify" || p.Seq != 7 {
		t.Fatalf("first push %+v, want alice's notify 7", p)
	}
	// NextOf skips other topics and decodes the body.
	var body struct{ Text string }
	if p := alice.NextOf(t, "chat.message", &body); body.Text != "hi" || !json.Valid(p.Body) {
		t.Fatalf("chat.message push %+v decoded to %+v", p, body)
	}
	// What is no push fails the read, not the subscription's goroutine.
	if msg := failure(func(tb testing.TB) { alice.Next(tb) }); !strings.Contains(msg, "not a contracts.Push") {
		t.Fatalf("reading a malformed push said %q", msg)
	}
	// A user id that cannot be a subject token is refused, not subscribed as a wildcard.
	if msg := failure(func(tb testing.TB) { s.Pushes(tb, "*") }); !strings.Contains(msg, "user_id") {
		t.Fatalf("pushes of user * said %q", msg)
	}
}

func TestServiceKitMongoURL(t *testing.T) {
	t.Parallel()
	uri := moatest.Mongo(t) // stands for a store the test stops and starts itself
	s := moatest.Service(t, startIdle, moatest.With{MongoURL: uri, NoIssuer: true})
	if s.Env.MongoURL != uri || s.Env.MongoDatabase == "" || s.Mongo == nil {
		t.Fatalf("env %q %q (handle %v), want the database on %s", s.Env.MongoURL, s.Env.MongoDatabase, s.Mongo != nil, uri)
	}
	if _, err := s.Mongo.Collection("c").InsertOne(t.Context(), bson.M{"k": 1}); err != nil {
		t.Fatal(err)
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mc.Disconnect(context.Background()) }()
	n, err := mc.Database(s.Env.MongoDatabase).Collection("c").CountDocuments(t.Context(), bson.M{})
	if err != nil || n != 1 {
		t.Fatalf("%d documents on the given server (%v), want 1", n, err)
	}
}
