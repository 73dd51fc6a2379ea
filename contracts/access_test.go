package contracts_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen"
)

// Every registered endpoint states who may call it: the bus enforces the declaration and the
// edge routes by it, so an endpoint without one would be an unguarded internal endpoint by
// accident rather than on purpose.
func TestEveryEndpointDeclaresAccess(t *testing.T) {
	for _, d := range contracts.Endpoints() {
		info := d.Info()
		if !info.Access.Declared() {
			t.Errorf("%s declares no Access", info.Subject)
		}
		if info.Access&^(contracts.AccessAnonymous|contracts.AccessRoles|contracts.AccessInternal) != 0 {
			t.Errorf("%s: Access %08b has unknown bits", info.Subject, info.Access)
		}
	}
}

func TestAccessAdmits(t *testing.T) {
	for _, tc := range []struct {
		a       contracts.Access
		noToken bool
		roles   []contracts.Role
		forApps bool
		name    string
	}{
		{contracts.AccessAnonymous, true, nil, true, "anyone"},
		{contracts.AccessAnonymous | contracts.AccessSignedIn, true, []contracts.Role{contracts.RoleConsumer, contracts.RoleSeller, contracts.RoleWriter, contracts.RoleOperator}, true, "anyone"},
		{contracts.AccessSignedIn, false, []contracts.Role{contracts.RoleConsumer, contracts.RoleSeller, contracts.RoleWriter, contracts.RoleOperator}, true, "signed-in"},
		{contracts.AccessWriter, false, []contracts.Role{contracts.RoleWriter}, true, "writer"},
		{contracts.AccessSeller, false, []contracts.Role{contracts.RoleSeller}, true, "seller"},
		{contracts.AccessConsumer, false, []contracts.Role{contracts.RoleConsumer}, true, "consumer"},
		{contracts.AccessSeller | contracts.AccessInternal, true, []contracts.Role{contracts.RoleSeller}, true, "seller or internal"},
		{contracts.AccessOperator, false, []contracts.Role{contracts.RoleOperator}, false, "operator"},
		{contracts.AccessInternal, true, nil, false, "internal"},
	} {
		if got := tc.a.NoToken(); got != tc.noToken {
			t.Errorf("%s: NoToken = %v", tc.name, got)
		}
		for _, r := range []contracts.Role{contracts.RoleConsumer, contracts.RoleSeller, contracts.RoleWriter, contracts.RoleOperator, "admin"} {
			want := false
			for _, w := range tc.roles {
				want = want || w == r
			}
			if got := tc.a.AdmitsRole(r); got != want {
				t.Errorf("%s: AdmitsRole(%s) = %v", tc.name, r, got)
			}
		}
		if got := tc.a.ForApps(); got != tc.forApps {
			t.Errorf("%s: ForApps = %v", tc.name, got)
		}
		if got := tc.a.String(); got != tc.name {
			t.Errorf("String = %q, want %q", got, tc.name)
		}
	}
}

// TestProtocolPolicyTableUpToDate fails when the policy table of docs/protocol.md differs
// from the endpoints' declarations: the doc is generated from them, never edited.
func TestProtocolPolicyTableUpToDate(t *testing.T) {
	const doc = "../docs/protocol.md"
	old, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := schemagen.SplicePolicy(old, schemagen.RegistryPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, old) {
		t.Fatalf("the policy table of %s is out of date with the contracts' Access declarations; run `go generate ./contracts` and commit the result", doc)
	}
}
