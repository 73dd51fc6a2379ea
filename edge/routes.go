package edge

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"

	"github.com/moa-run/moa/contracts"
)

// Policy says who may call a method through the edge. The edge checks it before calling; the
// service checks the caller's token again itself, so a wrong policy here can only refuse too
// much, never grant what the service would not.
type Policy int

// The policies.
const (
	Public       Policy = iota // anyone, also anonymous connections
	SignedIn                   // any authenticated user
	SellerOnly                 // authenticated sellers
	ConsumerOnly               // authenticated consumers
)

func (p Policy) String() string {
	switch p {
	case Public:
		return "public"
	case SignedIn:
		return "signed-in"
	case SellerOnly:
		return "seller"
	case ConsumerOnly:
		return "consumer"
	}
	return "unknown"
}

// allows reports whether a connection in the given state may call a method of policy p, and
// which error it gets when not.
func (p Policy) allows(signedIn bool, role contracts.Role) error {
	switch {
	case p == Public:
		return nil
	case !signedIn:
		return contracts.ErrUnauthenticated.Msg("sign in to call this method")
	case p == SignedIn,
		p == SellerOnly && role == contracts.RoleSeller,
		p == ConsumerOnly && role == contracts.RoleConsumer:
		return nil
	}
	return contracts.ErrForbidden.Msg("this method is for %s accounts", p)
}

// Route is one allowlisted method: the frame's method "<service>.<endpoint>" names the
// endpoint, which is called over the bus with the client's token.
type Route struct {
	Method   string
	Endpoint contracts.EndpointInfo
	Policy   Policy
	// rewrite replaces what a frame must not decide (an identity) before the call.
	rewrite func(c *conn, body []byte) ([]byte, error)
}

// Allow makes an endpoint callable through the edge under a policy. The method name is the
// endpoint's service and name, e.g. "catalog.get_product" for catalog.v1.get_product.
func Allow[Req, Resp any](ep contracts.Endpoint[Req, Resp], p Policy) Route {
	return Route{Method: ep.Service.Name + "." + ep.Name, Endpoint: ep.Info(), Policy: p}
}

// DefaultRoutes is the edge's allowlist. Anything not listed — internal endpoints such as
// auth.keys, and every endpoint added to a service later — is unknown to app clients until it
// is added here on purpose.
func DefaultRoutes() []Route {
	return []Route{
		// Anonymous visitors: sign up, sign in, and read the public catalog.
		Allow(contracts.AuthSignup, Public),
		login(),
		Allow(contracts.AuthRefresh, Public),
		Allow(contracts.AuthLogout, Public),
		Allow(contracts.CatalogGetProduct, Public),
		Allow(contracts.CatalogListProducts, Public),
		Allow(contracts.CatalogSearchProducts, Public),
		Allow(contracts.CatalogPopularProducts, Public),
		viewProduct(),

		Allow(contracts.AuthMe, SignedIn),
		Allow(contracts.SearchRecord, SignedIn),
		Allow(contracts.SearchRecent, SignedIn),
		Allow(contracts.SearchDeleteRecent, SignedIn),
		Allow(contracts.SearchClearRecent, SignedIn),
		Allow(contracts.SearchPopular, SignedIn),
		Allow(contracts.SearchSuggest, SignedIn),
		Allow(contracts.ChatSend, SignedIn),
		Allow(contracts.ChatHistory, SignedIn),
		Allow(contracts.ChatMarkRead, SignedIn),
		Allow(contracts.ChatRooms, SignedIn),
		Allow(contracts.ChatUnread, SignedIn),
		Allow(contracts.ChatGetRoom, SignedIn),
		Allow(contracts.NotifySince, SignedIn),
		Allow(contracts.NotifyList, SignedIn),
		Allow(contracts.NotifyMarkRead, SignedIn),
		Allow(contracts.NotifyUnreadCount, SignedIn),
		// The subscription service checks that the caller is the subscription's consumer or
		// the product's seller.
		Allow(contracts.SubscriptionGet, SignedIn),
		Allow(contracts.BillingPayments, SignedIn),

		Allow(contracts.CatalogCreateProduct, SellerOnly),
		Allow(contracts.CatalogUpdateProduct, SellerOnly),
		Allow(contracts.CatalogDeleteProduct, SellerOnly),
		Allow(contracts.CatalogMyProducts, SellerOnly),
		Allow(contracts.SubscriptionSubscribers, SellerOnly),
		Allow(contracts.SubscriptionDashboard, SellerOnly),

		Allow(contracts.ChatOpenRoom, ConsumerOnly),
		Allow(contracts.SubscriptionSubscribe, ConsumerOnly),
		Allow(contracts.SubscriptionMine, ConsumerOnly),
		Allow(contracts.SubscriptionCancel, ConsumerOnly),
		// Not routed: subscription.stuck and subscription.rebuild_dashboard (operators, on the
		// internal bus), notify.dev_mailbox (only with Config.DevMailbox).
	}
}

// login tells the auth service where the attempt comes from, which it throttles failures
// by: the connection's peer address, never one the frame names. Behind a proxy that is the
// proxy's address (all clients then share one count per account, as before this field).
func login() Route {
	r := Allow(contracts.AuthLogin, Public)
	r.rewrite = func(c *conn, body []byte) ([]byte, error) {
		addr := c.ws.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
		return setField(body, "client_addr", addr)
	}
	return r
}

// setField replaces (or adds) one field of a JSON object body.
func setField(body []byte, name string, value any) ([]byte, error) {
	var req map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil || req == nil {
		return nil, contracts.ErrBadRequest.Msg("body must be a JSON object")
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	req[name] = v
	return json.Marshal(req)
}

// viewProduct counts product views. The viewer id only deduplicates anonymous views, but a
// client choosing it could count itself many times, so the edge sets it: the connection's
// own viewer id (signed-in users are identified by their token anyway).
func viewProduct() Route {
	r := Allow(contracts.CatalogViewProduct, Public)
	r.rewrite = func(c *conn, body []byte) ([]byte, error) {
		return setField(body, "viewer_id", c.g.cfg.InstanceID+"-"+strconv.FormatUint(c.id, 36))
	}
	return r
}
