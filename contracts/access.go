package contracts

import "strings"

// Access is the set of callers an endpoint admits. Every endpoint declares it (Endpoint.Access),
// and that one declaration is the whole call policy: the bus enforces the roles before the
// handler runs (bus.Handle), the edge routes exactly the endpoints app users may call
// (edge.DefaultRoutes) and docs/protocol.md lists it (generated, see contracts/schemagen).
//
// On the bus, a caller without a token is admitted when the set has AccessAnonymous or
// AccessInternal; a caller with a token is verified and admitted when its role is in the set.
// A set without any role does not look at tokens at all (services forward the end user's
// token on every call they make on the user's behalf, also to internal endpoints).
// Anonymous and internal callers look alike on the bus; the difference is the edge: it
// routes anonymous endpoints to app clients and never routes internal-only ones.
type Access uint8

// The callers.
const (
	AccessAnonymous Access = 1 << iota // app clients without a token (through the edge)
	AccessConsumer                     // signed-in consumers
	AccessSeller                       // signed-in sellers
	AccessOperator                     // operator tokens (auth.v1.operator_token)
	AccessInternal                     // services on the bus, calling without a user token
	AccessWriter                       // signed-in blog writers (the post service)

	// AccessSignedIn is any signed-in user, operators included.
	AccessSignedIn = AccessConsumer | AccessSeller | AccessWriter | AccessOperator
	// AccessRoles are the callers that carry a token.
	AccessRoles = AccessSignedIn
)

// Declared reports whether a is set at all. The zero Access is undeclared: the bus treats it
// as internal (no check, never routed); contracts_test fails for a registered endpoint
// without a declaration.
func (a Access) Declared() bool { return a != 0 }

// Has reports whether every caller of b is in a.
func (a Access) Has(b Access) bool { return a&b == b && b != 0 }

// Roles are the token-carrying callers a admits.
func (a Access) Roles() Access { return a & AccessRoles }

// NoToken reports whether a caller without a token is admitted.
func (a Access) NoToken() bool { return a&(AccessAnonymous|AccessInternal) != 0 }

// AdmitsRole reports whether a token with role r is admitted.
func (a Access) AdmitsRole(r Role) bool {
	switch r {
	case RoleConsumer:
		return a&AccessConsumer != 0
	case RoleSeller:
		return a&AccessSeller != 0
	case RoleWriter:
		return a&AccessWriter != 0
	case RoleOperator:
		return a&AccessOperator != 0
	}
	return false
}

// ForApps reports whether app users (anonymous or signed-in consumers, sellers and writers)
// may call the endpoint, which is what makes the edge route it.
func (a Access) ForApps() bool {
	return a&(AccessAnonymous|AccessConsumer|AccessSeller|AccessWriter) != 0
}

// Names lists a's callers by their wire names, as the generated schemas and docs show them:
// "anonymous", "consumer", "seller", "writer", "operator", "internal".
func (a Access) Names() []string {
	out := []string{}
	for _, c := range accessNames {
		if a&c.bit != 0 {
			out = append(out, c.wire)
		}
	}
	return out
}

var accessNames = []struct {
	bit        Access
	wire, name string
}{
	{AccessAnonymous, "anonymous", "anyone"},
	{AccessConsumer, "consumer", "consumer"}, {AccessSeller, "seller", "seller"}, {AccessWriter, "writer", "writer"},
	{AccessOperator, "operator", "operator"}, {AccessInternal, "internal", "internal"},
}

// String names a's callers for messages and docs: "anyone", "signed-in", "seller",
// "consumer", "writer", "operator", "internal", or a list joined by " or ".
func (a Access) String() string {
	if !a.Declared() {
		return "undeclared"
	}
	var parts []string
	switch {
	case a.Has(AccessAnonymous):
		parts = append(parts, "anyone")
		a &^= AccessAnonymous | AccessSignedIn // anyone includes the signed-in
	case a.Has(AccessSignedIn):
		parts = append(parts, "signed-in")
		a &^= AccessSignedIn
	}
	for _, c := range accessNames[1:] {
		if a&c.bit != 0 {
			parts = append(parts, c.name)
		}
	}
	return strings.Join(parts, " or ")
}
