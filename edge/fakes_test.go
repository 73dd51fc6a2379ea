package edge

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
)

// In-test stand-ins for the services the edge calls: real endpoints on the bus, with only as
// much behaviour as the edge's tests need.

// fakeCatalog serves a few catalog endpoints and records who called.
type fakeCatalog struct {
	mu      sync.Mutex
	callers []string // user ids (or "anonymous") per create_product call
	views   []contracts.ViewProductRequest
}

func serveCatalog(t *testing.T, rt *bus.Runtime) *fakeCatalog {
	t.Helper()
	fc := &fakeCatalog{}
	svc, err := rt.AddService(contracts.CatalogService)
	if err != nil {
		t.Fatal(err)
	}
	v := authn.NewVerifier(rt.Client())
	svc.UseVerifier(v) // the bus checks the contract's access with it
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(bus.Handle(svc, contracts.CatalogGetProduct, func(_ context.Context, r contracts.ProductRef) (contracts.Product, error) {
		return contracts.Product{ID: r.ID, Title: "Tea club"}, nil
	}))
	must(bus.Handle(svc, contracts.CatalogCreateProduct, func(ctx context.Context, r contracts.CreateProductRequest) (contracts.Product, error) {
		p, err := v.Require(ctx, contracts.RoleSeller)
		if err != nil {
			return contracts.Product{}, err
		}
		fc.mu.Lock()
		fc.callers = append(fc.callers, p.UserID)
		fc.mu.Unlock()
		return contracts.Product{ID: uuid.NewString(), SellerID: p.UserID, Title: r.Title}, nil
	}))
	must(bus.Handle(svc, contracts.CatalogViewProduct, func(_ context.Context, r contracts.ViewProductRequest) (contracts.ViewProductResponse, error) {
		fc.mu.Lock()
		fc.views = append(fc.views, r)
		fc.mu.Unlock()
		return contracts.ViewProductResponse{Views: 1, Counted: true}, nil
	}))
	return fc
}

func (fc *fakeCatalog) created() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.callers...)
}

// fakeChat serves chat.v1.room for rooms the test declares: members get the room, anyone else
// not_found, like the real service.
type fakeChat struct {
	mu    sync.Mutex
	rooms map[string]contracts.ChatRoom
}

func serveChat(t *testing.T, rt *bus.Runtime) *fakeChat {
	t.Helper()
	fc := &fakeChat{rooms: map[string]contracts.ChatRoom{}}
	svc, err := rt.AddService(contracts.ChatService)
	if err != nil {
		t.Fatal(err)
	}
	v := authn.NewVerifier(rt.Client())
	svc.UseVerifier(v) // the bus checks the contract's access with it
	if err := bus.Handle(svc, contracts.ChatGetRoom, func(ctx context.Context, r contracts.ChatRoomRef) (contracts.ChatRoom, error) {
		p, err := v.FromContext(ctx)
		if err != nil {
			return contracts.ChatRoom{}, err
		}
		fc.mu.Lock()
		room, ok := fc.rooms[r.RoomID]
		fc.mu.Unlock()
		if !ok || (p.UserID != room.ConsumerID && p.UserID != room.SellerID) {
			return contracts.ChatRoom{}, contracts.ErrNotFound.Msg("no such room")
		}
		return room, nil
	}); err != nil {
		t.Fatal(err)
	}
	return fc
}

func (fc *fakeChat) room(consumer, seller contracts.Principal) contracts.ChatRoom {
	r := contracts.ChatRoom{ID: "room-" + uuid.NewString()[:8], ProductID: uuid.NewString(), ConsumerID: consumer.UserID,
		SellerID: seller.UserID, ProductTitle: "Tea club", CreatedAt: time.Now().UTC()}
	fc.mu.Lock()
	fc.rooms[r.ID] = r
	fc.mu.Unlock()
	return r
}

// fakeNotify stores notifications per user and serves notify.v1.since; entries before
// oldest[user] are pruned, so asking for them is not recoverable.
type fakeNotify struct {
	mu     sync.Mutex
	items  map[string][]contracts.Notification
	oldest map[string]uint64
}

func serveNotify(t *testing.T, rt *bus.Runtime) *fakeNotify {
	t.Helper()
	fn := &fakeNotify{items: map[string][]contracts.Notification{}, oldest: map[string]uint64{}}
	svc, err := rt.AddService(contracts.NotifyService)
	if err != nil {
		t.Fatal(err)
	}
	v := authn.NewVerifier(rt.Client())
	svc.UseVerifier(v) // the bus checks the contract's access with it
	if err := bus.Handle(svc, contracts.NotifySince, func(ctx context.Context, r contracts.NotifySinceReq) (contracts.NotifySinceResp, error) {
		p, err := v.FromContext(ctx)
		if err != nil {
			return contracts.NotifySinceResp{}, err
		}
		fn.mu.Lock()
		defer fn.mu.Unlock()
		all := fn.items[p.UserID]
		resp := contracts.NotifySinceResp{Items: []contracts.Notification{}, Recoverable: true}
		if len(all) > 0 {
			resp.LastSeq = all[len(all)-1].Seq
		}
		if r.Since+1 < fn.oldest[p.UserID] {
			resp.Recoverable = false
			return resp, nil
		}
		for _, n := range all {
			if n.Seq > r.Since && n.Seq >= fn.oldest[p.UserID] {
				resp.Items = append(resp.Items, n)
			}
		}
		return resp, nil
	}); err != nil {
		t.Fatal(err)
	}
	return fn
}

// add stores the user's next notification and returns it (not pushed).
func (fn *fakeNotify) add(userID, title string) contracts.Notification {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	n := contracts.Notification{Seq: uint64(len(fn.items[userID]) + 1), Kind: "test", Title: title, Body: title,
		CreatedAt: time.Now().UTC()}
	fn.items[userID] = append(fn.items[userID], n)
	return n
}

func (fn *fakeNotify) prune(userID string, oldest uint64) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	fn.oldest[userID] = oldest
}
