package deploy_test

import (
	"net/url"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// `moa dev`'s embedded server (NATSConfig.Authorize) gives every service the user and the
// permissions of the generated nats.conf: the same flows as TestServicesWorkUnderTheirNATSUsers
// pass in one process, with the edge's dev-only route on, and the server admits no one
// without credentials.
func TestDevRunsEveryServiceUnderItsNATSUser(t *testing.T) {
	sys := systemtest.Boot(t,
		systemtest.Setting("auth", system.AuthOperatorSecret, opsSecret),
		systemtest.Setting("edge", system.EdgeDevMailbox, "true"),
		systemtest.Configure(func(c *system.Config) {
			c.NATS = system.NATSConfig{Addr: "127.0.0.1:0", Authorize: true}
		}))
	u, err := url.Parse(sys.OperatorNATSURL())
	if err != nil || u.User.Username() != system.OperatorNATSUser {
		t.Fatalf("operator URL %q (%v): want the operator's credentials", sys.OperatorNATSURL(), err)
	}
	anon := *u
	anon.User = nil
	if nc, err := nats.Connect(anon.String()); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connects to the dev server")
	}

	ops := &userConn{}
	ops.nc, err = nats.Connect(u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ops.nc.Close)
	rt, err := bus.New(ops.nc)
	if err != nil {
		t.Fatal(err)
	}
	c := rt.NewClient("ops")
	m := marketplaceFlow(t, c)
	room := chatFlow(t, c, ops, m)
	sagaFlow(t, c, c, rt, ops, m)
	edgeFlow(t, sys.HTTPURL(), m, room)
	businessMetrics(t, sys.Registry(), m)
}
