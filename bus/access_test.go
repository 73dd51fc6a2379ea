package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// fakeTokens verifies tokens of the form "<role>:<user>" and refuses anything else; "expired"
// is an expired token. Enough to exercise the access check without an auth service.
type fakeTokens struct{}

func (fakeTokens) Verify(_ context.Context, tok string) (contracts.Principal, error) {
	if tok == "expired" {
		return contracts.Principal{}, contracts.ErrTokenExpired.Msg("expired (test)")
	}
	role, user, ok := strings.Cut(tok, ":")
	if !ok || !contracts.Role(role).Known() {
		return contracts.Principal{}, contracts.ErrTokenInvalid.Msg("not a test token")
	}
	return contracts.Principal{UserID: user, Role: contracts.Role(role)}, nil
}

var accessSvc = contracts.Service{Name: "access", Version: "1.0.0", Major: 1}

func accessEp(name string, a contracts.Access) contracts.Endpoint[echoReq, echoResp] {
	return contracts.Endpoint[echoReq, echoResp]{Service: accessSvc, Name: name, Access: a}
}

// TestHandleEnforcesDeclaredAccess checks the bus's access check on every kind of
// declaration: the codes are the ones the services' own checks answered before
// (unauthenticated without a token, the verifier's error for a bad one, forbidden for a wrong
// role), the handler sees the verified caller, and validation still comes first.
func TestHandleEnforcesDeclaredAccess(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	svc, err := rt.AddService(accessSvc)
	must(t, err)
	svc.UseVerifier(fakeTokens{})
	who := func(ctx context.Context, _ echoReq) (echoResp, error) {
		p, ok := bus.Caller(ctx)
		if !ok {
			return echoResp{Text: "nobody"}, nil
		}
		return echoResp{Text: string(p.Role) + ":" + p.UserID}, nil
	}
	eps := map[string]contracts.Access{
		"seller":             contracts.AccessSeller,
		"signed":             contracts.AccessSignedIn,
		"optional":           contracts.AccessAnonymous | contracts.AccessSignedIn,
		"public":             contracts.AccessAnonymous,
		"internal":           contracts.AccessInternal,
		"seller_or_internal": contracts.AccessSeller | contracts.AccessInternal,
		"operator":           contracts.AccessOperator,
	}
	for name, a := range eps {
		must(t, bus.Handle(svc, accessEp(name, a), who))
	}
	for _, tc := range []struct {
		ep, token string
		want      *contracts.Error
		text      string
	}{
		{"seller", "", contracts.ErrUnauthenticated, ""},
		{"seller", "consumer:c1", contracts.ErrForbidden, ""},
		{"seller", "operator:op", contracts.ErrForbidden, ""},
		{"seller", "garbage", contracts.ErrTokenInvalid, ""},
		{"seller", "expired", contracts.ErrTokenExpired, ""},
		{"seller", "seller:s1", nil, "seller:s1"},
		{"signed", "", contracts.ErrUnauthenticated, ""},
		{"signed", "consumer:c1", nil, "consumer:c1"},
		{"signed", "operator:op", nil, "operator:op"},
		{"optional", "", nil, "nobody"},
		{"optional", "expired", contracts.ErrTokenExpired, ""},
		{"optional", "seller:s1", nil, "seller:s1"},
		{"public", "garbage", nil, "nobody"}, // tokens are not looked at
		{"internal", "consumer:c1", nil, "nobody"},
		{"internal", "", nil, "nobody"},
		{"seller_or_internal", "", nil, "nobody"},
		{"seller_or_internal", "consumer:c1", contracts.ErrForbidden, ""},
		{"seller_or_internal", "seller:s1", nil, "seller:s1"},
		{"operator", "", contracts.ErrUnauthenticated, ""},
		{"operator", "seller:s1", contracts.ErrForbidden, ""},
		{"operator", "operator:op", nil, "operator:op"},
	} {
		ctx := context.Background()
		if tc.token != "" {
			ctx = bus.WithAuthToken(ctx, tc.token)
		}
		resp, err := bus.Call(ctx, rt.Client(), accessEp(tc.ep, eps[tc.ep]), echoReq{Text: "x"})
		switch {
		case tc.want == nil && (err != nil || resp.Text != tc.text):
			t.Errorf("%s with %q: %q, %v; want %q", tc.ep, tc.token, resp.Text, err, tc.text)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s with %q: %v; want %s", tc.ep, tc.token, err, tc.want.Code)
		}
	}
	// A malformed request is reported as such even without a token.
	_, err = bus.Call(context.Background(), rt.Client(), accessEp("seller", contracts.AccessSeller), echoReq{Text: "x", Times: -1})
	if !errors.Is(err, contracts.ErrValidation) {
		t.Fatalf("invalid request without a token: %v; want validation_failed", err)
	}
}

// An endpoint only signed-in users may call cannot be served by a service that cannot verify
// tokens: Handle refuses it instead of serving it unchecked.
func TestHandleRefusesSignedInEndpointWithoutVerifier(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	svc, err := rt.AddService(accessSvc)
	must(t, err)
	noop := func(context.Context, echoReq) (echoResp, error) { return echoResp{}, nil }
	if err := bus.Handle(svc, accessEp("signed", contracts.AccessSignedIn), noop); err == nil {
		t.Fatal("Handle registered a signed-in endpoint on a service without a verifier")
	}
	// One that also admits callers without a token serves them, and refuses tokens.
	must(t, bus.Handle(svc, accessEp("optional", contracts.AccessAnonymous|contracts.AccessSignedIn), noop))
	ep := accessEp("optional", contracts.AccessAnonymous|contracts.AccessSignedIn)
	if _, err := bus.Call(context.Background(), rt.Client(), ep, echoReq{}); err != nil {
		t.Fatalf("anonymous call: %v", err)
	}
	if _, err := bus.Call(bus.WithAuthToken(context.Background(), "seller:s1"), rt.Client(), ep, echoReq{}); !errors.Is(err, contracts.ErrUnavailable) {
		t.Fatalf("call with a token and no verifier: %v; want unavailable", err)
	}
}

// Authorize is the same check as a middleware, for untyped handlers (HandleRaw).
func TestAuthorizeMiddlewareOnRawHandlers(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	svc, err := rt.AddService(accessSvc)
	must(t, err)
	h := bus.Authorize(contracts.AccessSeller, fakeTokens{})(func(ctx context.Context, _ *bus.Msg) ([]byte, error) {
		p, _ := bus.Caller(ctx)
		return []byte(`{"text":"` + p.UserID + `"}`), nil
	})
	must(t, svc.HandleRaw("raw", time.Second, nil, h))
	ep := contracts.Endpoint[contracts.Empty, echoResp]{Service: accessSvc, Name: "raw"}
	if _, err := bus.Call(context.Background(), rt.Client(), ep, contracts.Empty{}); !errors.Is(err, contracts.ErrUnauthenticated) {
		t.Fatalf("no token: %v; want unauthenticated", err)
	}
	if _, err := bus.Call(bus.WithAuthToken(context.Background(), "consumer:c1"), rt.Client(), ep, contracts.Empty{}); !errors.Is(err, contracts.ErrForbidden) {
		t.Fatalf("consumer: %v; want forbidden", err)
	}
	resp, err := bus.Call(bus.WithAuthToken(context.Background(), "seller:s1"), rt.Client(), ep, contracts.Empty{})
	if err != nil || resp.Text != "s1" {
		t.Fatalf("seller: %q, %v", resp.Text, err)
	}
}
