package edge

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

func TestMediationAllowlistAndRolePolicy(t *testing.T) {
	e := newEnv(t)
	cat := serveCatalog(t, e.rt)
	ed := e.edge(Config{})
	seller, consumer := principal(contracts.RoleSeller), principal(contracts.RoleConsumer)

	cc := dial(t, ed.url)
	cc.mustAuth(e.iss.token(consumer))
	// The role policy refuses at the edge: the service never sees the call.
	wantError(t, cc.req("catalog.create_product", validProduct()), "forbidden")
	if n := len(cat.created()); n != 0 {
		t.Fatalf("a consumer's create_product reached the service %d times", n)
	}
	// Methods off the allowlist do not exist, internal ones included.
	for _, m := range []string{"auth.keys", "catalog.nope", "billing.charge", "notify.push"} {
		wantError(t, cc.req(m, map[string]any{}), "unknown_method")
	}
	sc := dial(t, ed.url)
	sc.mustAuth(e.iss.token(seller))
	wantError(t, sc.req("chat.open_room", map[string]any{"product_id": "7f9c0000-0000-4000-8000-000000000001"}), "forbidden")

	// Identity comes from the token: a frame cannot claim to be someone else. The body goes
	// to the service as it is, which refuses fields it does not know.
	body := validProduct()
	body["seller_id"] = consumer.UserID
	wantError(t, sc.req("catalog.create_product", body), "unknown_field")
	f := sc.req("catalog.create_product", validProduct())
	if f.Type != protocol.TypeOK {
		t.Fatalf("seller create_product: %+v", f.Error)
	}
	var p contracts.Product
	if err := json.Unmarshal(f.Body, &p); err != nil || p.SellerID != seller.UserID {
		t.Fatalf("created %+v (%v); want the seller of the token", p, err)
	}
	if got := cat.created(); len(got) != 1 || got[0] != seller.UserID {
		t.Fatalf("service saw callers %v, want [%s]", got, seller.UserID)
	}

	// Validation failures of the service come back with their code and field.
	f = sc.req("catalog.get_product", map[string]any{"id": "not-a-uuid"})
	if f.Type != protocol.TypeError || f.Error.Code != "validation_failed" || f.Error.Field != "id" {
		t.Fatalf("invalid id: %+v", f.Error)
	}
	// A method whose service is down answers no_responders, not silence.
	wantError(t, sc.req("chat.rooms", map[string]any{}), "no_responders")
}

func TestViewerIDIsSetByTheEdge(t *testing.T) {
	e := newEnv(t)
	cat := serveCatalog(t, e.rt)
	ed := e.edge(Config{})
	c := dial(t, ed.url)
	c.call(map[string]any{"type": "auth", "anonymous": true})
	id := "7f9c0000-0000-4000-8000-000000000001"
	for range 2 {
		f := c.req("catalog.view_product", map[string]any{"id": id, "viewer_id": "attacker-chosen"})
		if f.Type != protocol.TypeOK {
			t.Fatalf("view: %+v", f.Error)
		}
	}
	cat.mu.Lock()
	defer cat.mu.Unlock()
	if len(cat.views) != 2 || cat.views[0].ViewerID == "attacker-chosen" || cat.views[0].ViewerID != cat.views[1].ViewerID ||
		cat.views[0].ID != id {
		t.Fatalf("views seen by the service: %+v; want the edge's own viewer id, the same for one connection", cat.views)
	}
}

func TestLoginClientAddrIsSetByTheEdge(t *testing.T) {
	e := newEnv(t)
	svc, err := e.rt.AddService(contracts.AuthService)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan contracts.LoginRequest, 1)
	if err := bus.Handle(svc, contracts.AuthLogin, func(_ context.Context, r contracts.LoginRequest) (contracts.Session, error) {
		seen <- r
		return contracts.Session{}, contracts.ErrInvalidCredentials.Msg("email or password is wrong")
	}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, e.edge(Config{}).url)
	c.call(map[string]any{"type": "auth", "anonymous": true})
	wantError(t, c.req("auth.login", map[string]any{"email": "a@example.com", "password": "x", "client_addr": "10.9.9.9"}),
		"invalid_credentials")
	if r := <-seen; r.ClientAddr != "127.0.0.1" || r.Email != "a@example.com" {
		t.Fatalf("login seen by auth: %+v; want the connection's address, not the frame's", r)
	}
}

func TestOperatorAndDevOnlyMethodsAreNotRouted(t *testing.T) {
	e := newEnv(t)
	u := principal(contracts.RoleSeller)
	plain := dial(t, e.edge(Config{}).url)
	plain.mustAuth(e.iss.token(u))
	for _, m := range []string{"subscription.stuck", "subscription.rebuild_dashboard", "notify.dev_mailbox"} {
		wantError(t, plain.req(m, map[string]any{}), "unknown_method")
	}
	// With DevMailbox (moa dev) the mailbox is routed: nobody serves it here, so the call
	// gets as far as the bus.
	dev := dial(t, e.edge(Config{DevMailbox: true}).url)
	dev.mustAuth(e.iss.token(u))
	wantError(t, dev.req("notify.dev_mailbox", map[string]any{}), "no_responders")
	wantError(t, dev.req("subscription.stuck", map[string]any{}), "unknown_method")
}
