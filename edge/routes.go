package edge

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"

	"github.com/moa-run/moa/contracts"
)

// allows reports whether a connection in the given state may call a method of access a (the
// endpoint's declaration in contracts), and which error it gets when not. The edge checks it
// before calling; the bus checks the caller's token against the same declaration again, so
// the edge only saves the trip.
func allows(a contracts.Access, signedIn bool, role contracts.Role) error {
	switch {
	case a&contracts.AccessAnonymous != 0:
		return nil
	case !signedIn:
		return contracts.ErrUnauthenticated.Msg("sign in to call this method")
	case a.AdmitsRole(role):
		return nil
	}
	return contracts.ErrForbidden.Msg("this method is for %s accounts", a.Roles())
}

// Route is one allowlisted method: the frame's method "<service>.<endpoint>" names the
// endpoint, which is called over the bus with the client's token.
type Route struct {
	Method   string
	Endpoint contracts.EndpointInfo
	// rewrite replaces what a frame must not decide (an identity) before the call.
	rewrite func(c *conn, body []byte) ([]byte, error)
}

// Allow makes an endpoint callable through the edge, under the access its contract declares.
// The method name is the endpoint's service and name, e.g. "catalog.get_product" for
// catalog.v1.get_product.
func Allow[Req, Resp any](ep contracts.Endpoint[Req, Resp]) Route { return route(ep.Info()) }

func route(info contracts.EndpointInfo) Route {
	return Route{Method: info.Service.Name + "." + info.Name, Endpoint: info}
}

// devOnly are endpoints app users may call that the edge routes only in development
// (Config.DevMailbox).
var devOnly = map[string]bool{contracts.NotifyDevMailbox.Subject(): true}

// rewrites are the routes whose body the edge amends, by subject.
var rewrites = map[string]func(c *conn, body []byte) ([]byte, error){
	contracts.AuthLogin.Subject():          loginAddr,
	contracts.CatalogViewProduct.Subject(): viewerID,
}

// DefaultRoutes is the edge's allowlist, derived from the contracts: every endpoint that app
// users may call (contracts.Access.ForApps: anonymous, consumers or sellers) is routed, under
// its declared access. Internal and operator-only endpoints — auth.keys,
// auth.operator_token, subscription.stuck, subscription.rebuild_dashboard — are never routed,
// and notify.dev_mailbox only with Config.DevMailbox.
func DefaultRoutes() []Route { return routesFor(contracts.Endpoints(), false) }

func routesFor(eps []contracts.Describer, dev bool) []Route {
	var out []Route
	for _, d := range eps {
		info := d.Info()
		if !info.Access.ForApps() || devOnly[info.Subject] && !dev {
			continue
		}
		r := route(info)
		r.rewrite = rewrites[info.Subject]
		out = append(out, r)
	}
	return out
}

// loginAddr tells the auth service where a login attempt comes from, which it throttles
// failures by: the connection's peer address, never one the frame names. Behind a proxy that
// is the proxy's address (all clients then share one count per account, as before this field).
func loginAddr(c *conn, body []byte) ([]byte, error) {
	addr := c.ws.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return setField(body, "client_addr", addr)
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

// viewerID sets the viewer id of a product view. It only deduplicates anonymous views, but a
// client choosing it could count itself many times, so the edge sets it: the connection's
// own viewer id (signed-in users are identified by their token anyway).
func viewerID(c *conn, body []byte) ([]byte, error) {
	return setField(body, "viewer_id", c.g.cfg.InstanceID+"-"+strconv.FormatUint(c.id, 36))
}
