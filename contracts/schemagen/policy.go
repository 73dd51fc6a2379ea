package schemagen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/moa-run/moa/contracts"
)

// The call policy table of docs/protocol.md sits between these markers and is generated from
// the endpoints' Access declarations: `go generate ./contracts` rewrites it, and
// contracts/schemas_test.go fails when it is stale. Text outside the markers is hand-written.
const (
	PolicyBegin = "<!-- BEGIN GENERATED policy table: from the Access of each endpoint in contracts; run go generate ./contracts -->"
	PolicyEnd   = "<!-- END GENERATED policy table -->"
)

// PolicyTable renders who may call each endpoint as a Markdown table, in the endpoints' order.
// The method column is the edge's name for it (<service>.<endpoint>).
func PolicyTable(eps []contracts.EndpointInfo) string {
	var b strings.Builder
	b.WriteString("| method | who may call | the service also checks |\n|---|---|---|\n")
	for _, ep := range eps {
		owner := ""
		if ep.Owner {
			owner = "that the caller owns the resource"
		}
		fmt.Fprintf(&b, "| `%s.%s` | %s | %s |\n", ep.Service.Name, ep.Name, whoMayCall(ep.Access), owner)
	}
	return b.String()
}

// whoMayCall says in words whom a admits.
func whoMayCall(a contracts.Access) string {
	if !a.Declared() {
		return "undeclared (internal)"
	}
	var parts []string
	roles := a.Roles()
	switch {
	case a&contracts.AccessAnonymous != 0 && roles == 0:
		parts = append(parts, "anyone, also anonymous")
	case a&contracts.AccessAnonymous != 0:
		parts = append(parts, "anyone, also anonymous (a token that is sent must be valid)")
		roles &^= contracts.AccessSignedIn
	case roles == contracts.AccessSignedIn:
		parts = append(parts, "signed in")
		roles = 0
	}
	for _, r := range []struct {
		bit  contracts.Access
		name string
	}{{contracts.AccessConsumer, "consumers"}, {contracts.AccessSeller, "sellers"}, {contracts.AccessWriter, "writers"}, {contracts.AccessOperator, "operator tokens"}} {
		if roles&r.bit != 0 {
			parts = append(parts, r.name)
		}
	}
	if a&contracts.AccessInternal != 0 {
		parts = append(parts, "services on the bus without a user token (internal)")
	}
	return strings.Join(parts, "; ")
}

// SplicePolicy replaces the generated region of doc (between PolicyBegin and PolicyEnd) with
// table.
func SplicePolicy(doc []byte, table string) ([]byte, error) {
	i := bytes.Index(doc, []byte(PolicyBegin))
	j := bytes.Index(doc, []byte(PolicyEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("schemagen: the document has no %q ... %q region", PolicyBegin, PolicyEnd)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(PolicyBegin)])
	out.WriteString("\n\n")
	out.WriteString(table)
	out.WriteString("\n")
	out.Write(doc[j:])
	return out.Bytes(), nil
}

// RegistryPolicy is the policy table of the contracts package as registered.
func RegistryPolicy() string { return PolicyTable(Registry("").Endpoints) }
