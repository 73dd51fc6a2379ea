package system

import (
	"slices"
	"strings"
	"testing"
)

// Every registered service gets a NATS user, in the registry's order, and none may read
// another's inbox space or everything.
func TestNATSUsersOfRegisteredServices(t *testing.T) {
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

// A service's declared calls are endpoints of other services: a call of its own endpoints
// needs no permission beyond the ones it answers, and one in the list is a copy-paste slip.
func TestNATSCallsAreOfOtherServices(t *testing.T) {
	for _, name := range Services() {
		reg, _ := Lookup(name)
		for _, d := range reg.NATS.Calls {
			if s := d.Info().Service.Name; s == name {
				t.Errorf("%s declares a call of its own endpoint %s", name, d.Info().Subject)
			}
		}
	}
}
