package system

import (
	"slices"
	"strings"
	"testing"
)

// The NATS needs are declared per registered service: an entry for a service that is not
// registered (renamed, removed) would silently grant nothing to anyone.
func TestNATSNeedsAreOfRegisteredServices(t *testing.T) {
	for name := range natsTable {
		if _, ok := Lookup(name); !ok {
			t.Errorf("natsTable declares %s, which the registry does not know", name)
		}
	}
	var users []string
	for _, u := range NATSUsers() {
		users = append(users, u.Name)
		for _, r := range append(slices.Clone(u.Publish), u.Subscribe...) {
			for _, s := range r.Subjects {
				if s == ">" || strings.HasPrefix(s, "_INBOX.") {
					t.Errorf("%s may use %s: every user reads only its own inbox space", u.Name, s)
				}
			}
		}
	}
	if want := append(Services(), OperatorNATSUser); !slices.Equal(users, want) {
		t.Errorf("NATS users %v, want %v", users, want)
	}
}
