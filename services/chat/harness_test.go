package chat_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/chat"
)

// fixture is one chat service on the service kit (embedded NATS and FerretDB, a test token
// issuer standing in for the auth service), a stand-in for the catalog's get_product, and the
// typed client the tests drive the service with. Kit.Mongo is for assertions on what is
// stored, never to drive the service.
type fixture struct {
	*moatest.Kit[bus.Component]
	t       testing.TB
	chat    *client.ChatClient
	catalog *fakeCatalog
}

func start(t testing.TB) *fixture {
	t.Helper()
	return startWith(t, moatest.With{Mongo: true})
}

// startOn starts the fixture with the chat's database on the MongoDB server at uri, which the
// test stops and starts itself.
func startOn(t testing.TB, uri string) *fixture {
	t.Helper()
	return startWith(t, moatest.With{MongoURL: uri})
}

func startWith(t testing.TB, w moatest.With) *fixture {
	t.Helper()
	w.Declared = chat.Settings
	k := moatest.Service(t, chat.Start, w)
	// The catalog is another service: it answers on a connection of its own.
	return &fixture{Kit: k, t: t, chat: k.Client.Chat, catalog: serveCatalog(t, moatest.Runtime(t, k.NATS))}
}

// as returns a context acting for p.
func (f *fixture) as(p contracts.Principal) context.Context {
	return f.As(context.Background(), p)
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

// inbox is what one user's connections would receive, decoded as the chat's pushes.
type inbox struct {
	t testing.TB
	*moatest.Pushes
}

func (f *fixture) inbox(p contracts.Principal) *inbox {
	f.t.Helper()
	return &inbox{t: f.t, Pushes: f.Pushes(f.t, p.UserID)}
}

// message returns the next chat message pushed, skipping other topics.
func (in *inbox) message() contracts.ChatMessage {
	in.t.Helper()
	var m contracts.ChatMessage
	in.NextOf(in.t, contracts.PushTopicChatMessage, &m)
	return m
}

// receipt returns the next read receipt pushed, skipping other topics.
func (in *inbox) receipt() contracts.ChatReadReceipt {
	in.t.Helper()
	var r contracts.ChatReadReceipt
	in.NextOf(in.t, contracts.PushTopicChatRead, &r)
	return r
}

// count counts documents in a collection of the chat's database.
func (f *fixture) count(coll string, filter any) int64 {
	f.t.Helper()
	n, err := f.Mongo.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}
