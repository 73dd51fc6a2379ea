package edge

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

func TestAuthDeadlineClosesWithReason(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{AuthTimeout: 300 * time.Millisecond})
	c := dial(t, ed.url)
	start := time.Now()
	seen := wantClose(t, c, protocol.CloseAuth, "auth_timeout")
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("closed after %s, before the auth deadline", took)
	}
	if len(seen) != 1 || seen[0].Type != protocol.TypeBye || seen[0].Error.Code != "auth_timeout" {
		t.Fatalf("frames before the close: %+v; want one bye frame naming auth_timeout", seen)
	}

	// Frames other than auth are refused before authentication, and bad tokens do not count
	// as authenticating: the deadline still closes the connection. (A longer deadline here,
	// so that a slow machine answers both frames before it.)
	ed = e.edge(Config{AuthTimeout: 3 * time.Second})
	c = dial(t, ed.url)
	wantError(t, c.req("catalog.get_product", map[string]string{"id": "x"}), "unauthenticated")
	wantError(t, c.auth("not-a-jwt"), "token_invalid")
	wantClose(t, c, protocol.CloseAuth, "auth_timeout")
}

func TestRepeatedBadTokensClose(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{})
	c := dial(t, ed.url)
	wantError(t, c.auth("bad"), "token_invalid")
	wantError(t, c.auth(e.iss.tokenTTL(principal(contracts.RoleConsumer), -time.Hour)), "token_expired")
	c.sendFrame(map[string]any{"type": "auth", "id": "a3", "token": "bad"})
	wantClose(t, c, protocol.CloseAuth, "token_invalid")
}

func TestTokenExpiryMidConnectionWithRefresh(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{ExpiryWarning: 4 * time.Second})
	u := principal(contracts.RoleConsumer)

	// A connection whose token runs out without a refresh is closed at expiry, after a
	// warning.
	lapsing := dial(t, ed.url)
	lapsing.mustAuth(e.iss.tokenTTL(u, 5*time.Second))
	warned := false
	ce, seen := lapsing.expectClose(20 * time.Second)
	for _, f := range seen {
		warned = warned || f.Type == protocol.TypeExpiring
	}
	if ce.Code != protocol.CloseAuth || ce.Text != "token_expired" || !warned {
		t.Fatalf("closed with %d %q after %+v; want an expiring frame, then 4401 token_expired", ce.Code, ce.Text, seen)
	}

	// A connection that refreshes in time stays open past the first token's expiry.
	c := dial(t, ed.url)
	short := e.iss.tokenTTL(u, 5*time.Second)
	c.mustAuth(short)
	exp := c.until(func(f frame) bool { return f.Type == protocol.TypeExpiring })
	var warn struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(exp.Body, &warn); err != nil || warn.ExpiresAt.IsZero() {
		t.Fatalf("expiring frame %s: %v", exp.Body, err)
	}
	wantError(t, c.call(map[string]any{"type": "refresh", "token": e.iss.token(principal(contracts.RoleConsumer))}), "forbidden")
	ok := c.call(map[string]any{"type": "refresh", "token": e.iss.token(u)})
	if ok.Type != protocol.TypeOK {
		t.Fatalf("refresh: %+v", ok.Error)
	}
	time.Sleep(time.Until(warn.ExpiresAt) + 500*time.Millisecond) // past the first token's expiry, on purpose
	if f := c.call(map[string]any{"type": "ping"}); f.Type != protocol.TypePong {
		t.Fatalf("after the refreshed expiry: %+v", f)
	}
	// Refresh needs a signed-in session.
	anon := dial(t, ed.url)
	wantError(t, anon.call(map[string]any{"type": "refresh", "token": e.iss.token(u)}), "unauthenticated")
}

func TestAnonymousSessionGetsOnlyPublicCalls(t *testing.T) {
	e := newEnv(t)
	cat := serveCatalog(t, e.rt)
	serveNotify(t, e.rt)
	ed := e.edge(Config{AuthTimeout: 2 * time.Second})
	c := dial(t, ed.url)
	if f := c.call(map[string]any{"type": "auth", "anonymous": true}); f.Type != protocol.TypeOK {
		t.Fatalf("anonymous auth: %+v", f)
	}
	f := c.req("catalog.get_product", map[string]string{"id": "7f9c0000-0000-4000-8000-000000000001"})
	if f.Type != protocol.TypeOK {
		t.Fatalf("public call: %+v", f.Error)
	}
	wantError(t, c.req("catalog.create_product", map[string]any{"title": "x"}), "unauthenticated")
	wantError(t, c.req("chat.rooms", map[string]any{}), "unauthenticated")
	wantError(t, c.req("notify.since", map[string]any{"since": 0}), "unauthenticated")
	wantError(t, c.call(map[string]any{"type": "resume", "since": 0}), "unauthenticated")
	wantError(t, c.call(map[string]any{"type": "subscribe", "topic": "room:r1"}), "unauthenticated")
	if n := len(cat.created()); n != 0 {
		t.Fatalf("create_product reached the service %d times from an anonymous session", n)
	}
	// The auth deadline does not apply to a session that chose to be anonymous.
	time.Sleep(2300 * time.Millisecond) // past the deadline, on purpose
	if f := c.call(map[string]any{"type": "ping"}); f.Type != protocol.TypePong {
		t.Fatalf("anonymous session after the auth deadline: %+v", f)
	}
	// Signing in upgrades the session.
	seller := principal(contracts.RoleSeller)
	c.mustAuth(e.iss.token(seller))
	if f := c.req("catalog.create_product", validProduct()); f.Type != protocol.TypeOK {
		t.Fatalf("after upgrading: %+v", f.Error)
	}
	wantError(t, c.auth(e.iss.token(seller)), "conflict")
}

func validProduct() map[string]any {
	return map[string]any{"title": "Tea club", "price_amount": 5900, "currency": "KRW", "billing_period": "monthly",
		"terms": "Cancel any time.", "capacity": 10}
}
