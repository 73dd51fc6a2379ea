package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/chat"
)

// fixture is one chat service on the harness: embedded NATS, embedded FerretDB, a test token
// issuer standing in for the auth service, a stand-in for the catalog's get_product, and the
// typed client the tests drive the service with.
type fixture struct {
	t       testing.TB
	nats    *moatest.NATSServer
	rt      *bus.Runtime
	iss     *authntest.Issuer
	chat    *client.ChatClient
	catalog *fakeCatalog
	env     bus.Env
	db      *mongo.Database // for assertions on what is stored, never to drive the service
}

func start(t testing.TB) *fixture {
	return startOn(t, moatest.Mongo(t))
}

// startOn starts the fixture with the chat's database on the MongoDB server at uri.
func startOn(t testing.TB, uri string) *fixture {
	t.Helper()
	ns := moatest.NATS(t)
	rt, err := bus.New(ns.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	f := &fixture{t: t, nats: ns, rt: rt, iss: authntest.NewIssuer(t, rt), chat: client.NewChatClient(rt.Client())}
	f.catalog = serveCatalog(t, rt)
	f.env = bus.Env{
		Runtime: rt, MongoURL: uri,
		MongoDatabase: "chat_" + uuid.NewString()[:8], // unique even on a shared MOA_TEST_MONGO_URL
		Setting:       func(string) string { return "" },
		Declared:      chat.Settings,
	}
	f.startService(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	f.db = mc.Database(f.env.MongoDatabase)
	return f
}

// startService starts (or restarts) the service and stops it at the end of the test.
func (f *fixture) startService(t testing.TB) bus.Component {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	comp, err := chat.Start(ctx, f.env)
	if err != nil {
		t.Fatalf("chat.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = comp.Stop(ctx)
	})
	return comp
}

// as returns a context acting for p.
func (f *fixture) as(p contracts.Principal) context.Context {
	return f.iss.Context(context.Background(), p)
}

// product registers a product of seller with the catalog stand-in and returns its id.
func (f *fixture) product(seller contracts.Principal, title string) string {
	id := uuid.NewString()
	f.catalog.put(contracts.Product{ID: id, SellerID: seller.UserID, Title: title})
	return id
}

// room opens consumer's room about a new product of seller.
func (f *fixture) room(consumer, seller contracts.Principal) contracts.ChatRoom {
	f.t.Helper()
	r, err := f.chat.OpenRoom(f.as(consumer), f.product(seller, "Family plan"))
	if err != nil {
		f.t.Fatalf("open room: %v", err)
	}
	return r
}

// send sends text as p with a fresh client message id and returns the ack.
func (f *fixture) send(p contracts.Principal, roomID, text string) contracts.ChatSendAck {
	f.t.Helper()
	ack, err := f.chat.Send(f.as(p), roomID, text, uuid.NewString())
	if err != nil {
		f.t.Fatalf("send %q: %v", text, err)
	}
	return ack
}

// fakeCatalog serves catalog.v1.get_product from a map: a test double for another service.
type fakeCatalog struct {
	mu       sync.Mutex
	products map[string]contracts.Product
	calls    atomic.Int64
	svc      *bus.Service
}

func serveCatalog(t testing.TB, rt *bus.Runtime) *fakeCatalog {
	t.Helper()
	fc := &fakeCatalog{products: map[string]contracts.Product{}}
	svc, err := rt.AddService(contracts.CatalogService)
	if err != nil {
		t.Fatal(err)
	}
	fc.svc = svc
	err = bus.Handle(svc, contracts.CatalogGetProduct, func(_ context.Context, req contracts.ProductRef) (contracts.Product, error) {
		fc.calls.Add(1)
		fc.mu.Lock()
		defer fc.mu.Unlock()
		p, ok := fc.products[req.ID]
		if !ok {
			return p, contracts.ErrNotFound.Msg("no product %s", req.ID)
		}
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

func (fc *fakeCatalog) put(p contracts.Product) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.products[p.ID] = p
}

// inbox collects the pushes one user's connections would receive, from a plain NATS connection
// as an edge instance would subscribe.
type inbox struct {
	t  testing.TB
	ch chan contracts.Push
}

func (f *fixture) inbox(p contracts.Principal) *inbox {
	f.t.Helper()
	subject, err := contracts.PushUserSubject(p.UserID)
	if err != nil {
		f.t.Fatal(err)
	}
	nc := f.nats.Conn(f.t)
	in := &inbox{t: f.t, ch: make(chan contracts.Push, 1024)}
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var p contracts.Push
		if err := json.Unmarshal(m.Data, &p); err != nil {
			f.t.Errorf("push on %s is not a contracts.Push: %v", subject, err)
			return
		}
		in.ch <- p
	}); err != nil {
		f.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the subscription is in place before anything is sent
		f.t.Fatal(err)
	}
	return in
}

// next returns the next push on topic, skipping pushes of other topics.
func (in *inbox) next(topic string) json.RawMessage {
	in.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-in.ch:
			if p.Topic == topic {
				return p.Body
			}
		case <-deadline:
			in.t.Fatalf("no %s push within 10s", topic)
			return nil
		}
	}
}

func (in *inbox) message() contracts.ChatMessage {
	in.t.Helper()
	var m contracts.ChatMessage
	if err := json.Unmarshal(in.next(contracts.PushTopicChatMessage), &m); err != nil {
		in.t.Fatal(err)
	}
	return m
}

func (in *inbox) receipt() contracts.ChatReadReceipt {
	in.t.Helper()
	var r contracts.ChatReadReceipt
	if err := json.Unmarshal(in.next(contracts.PushTopicChatRead), &r); err != nil {
		in.t.Fatal(err)
	}
	return r
}

// wantCode asserts that err is the catalogue error want, on field when field is not empty.
func wantCode(t testing.TB, what string, err error, want *contracts.Error, field string) {
	t.Helper()
	var ce *contracts.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v, want %s", what, err, want.Code)
	}
	if ce.Code != want.Code || ce.Field != field {
		t.Fatalf("%s: got %s on field %q (%s), want %s on field %q", what, ce.Code, ce.Field, ce.Message, want.Code, field)
	}
}

// count counts documents in a collection of the chat's database.
func (f *fixture) count(coll string, filter any) int64 {
	f.t.Helper()
	n, err := f.db.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}
