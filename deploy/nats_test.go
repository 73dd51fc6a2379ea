package deploy_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/deploy/deploygen"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

// natsUsers are the users nats.conf must define besides one per registered service (the
// edge included): the operators' and the system account's.
var natsUsers = []string{"ops", deploygen.NATSSysUser}

// opsSecret is auth's operator secret in these tests: ops trades it for an operator token.
const opsSecret = "deploy-test-operator-secret"

// isFront reports whether a registered service is a web front (the edge), which answers no
// endpoints.
func isFront(name string) bool {
	r, _ := system.Lookup(name)
	return r.Mount != ""
}

func natsPassword(user string) string { return user + "-test-password" }

// loadNATSConfig parses deploy/nats/nats.conf with nats-server's own parser, with the
// passwords it reads from the environment set, as the cluster's first server.
func loadNATSConfig(t *testing.T) *server.Options {
	t.Helper()
	return loadNATSNodeConfig(t, "nats/nats.conf", deploygen.ComposeNATS.Nodes[0])
}

// loadNATSNodeConfig parses the nats.conf at path as the server node reads it: with its
// name and failure domain tag in the environment, and the passwords.
func loadNATSNodeConfig(t *testing.T, path, node string) *server.Options {
	t.Helper()
	for _, u := range append(system.Services(), natsUsers...) {
		t.Setenv("MOA_NATS_"+strings.ToUpper(u)+"_PASSWORD", natsPassword(u))
	}
	t.Setenv(deploygen.NATSServerNameEnv, node)
	t.Setenv(deploygen.NATSServerTagEnv, deploygen.NATSFailureDomainTag+node)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	return opts
}

func TestNATSConfigGivesEachServiceItsOwnPermissions(t *testing.T) {
	opts := loadNATSConfig(t)
	if !opts.JetStream || !opts.SyncAlways {
		t.Errorf("JetStream %v, sync always %v: want a durable JetStream", opts.JetStream, opts.SyncAlways)
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	for _, name := range append(system.Services(), natsUsers...) {
		if users[name] == nil {
			t.Errorf("nats.conf has no user %s", name)
		} else if users[name].Password != natsPassword(name) {
			t.Errorf("user %s does not take its password from MOA_NATS_%s_PASSWORD", name, strings.ToUpper(name))
		}
	}
	for _, name := range system.Services() {
		u := users[name]
		if u == nil || isFront(name) {
			continue
		}
		p := u.Permissions
		if p == nil || p.Publish == nil || p.Subscribe == nil || p.Response == nil {
			t.Errorf("%s: permissions %+v: want publish, subscribe and responses", name, p)
			continue
		}
		prefix := name + ".v1.>"
		if !slices.Contains(p.Subscribe.Allow, prefix) || !slices.Contains(p.Subscribe.Allow, "$SRV.>") {
			t.Errorf("%s may subscribe to %v: want its own %s and $SRV.>", name, p.Subscribe.Allow, prefix)
		}
		for _, s := range p.Subscribe.Allow {
			if strings.HasSuffix(s, ".v1.>") && s != prefix {
				t.Errorf("%s may answer another service's endpoints: %s", name, s)
			}
		}
		for _, s := range p.Publish.Allow {
			if s == ">" || strings.HasPrefix(s, "evt.") && !strings.HasPrefix(s, "evt."+name+".") || s == "$JS.API.>" {
				t.Errorf("%s may publish %s", name, s)
			}
		}
	}
	// Every user but ops and the system account's reads replies in its own inbox space only.
	for name, u := range users {
		if name == "ops" || name == deploygen.NATSSysUser {
			continue
		}
		inbox := system.InboxPrefix(name) + ".>"
		if u.Permissions == nil || u.Permissions.Subscribe == nil || !slices.Contains(u.Permissions.Subscribe.Allow, inbox) {
			t.Errorf("%s may not subscribe to its inbox space %s", name, inbox)
			continue
		}
		for _, s := range u.Permissions.Subscribe.Allow {
			if strings.HasPrefix(s, "_INBOX") && s != inbox || s == ">" {
				t.Errorf("%s may read replies meant for others: %s", name, s)
			}
		}
	}
	if u := users["edge"]; u != nil {
		edgePermissions(t, u)
	}
	if missing := natsEnvRequired(t); missing != nil {
		t.Error(missing)
	}
}

// edgePermissions checks that the edge may call exactly the endpoints of its allowlist (and
// auth.v1.keys, to verify tokens), and answers none.
func edgePermissions(t *testing.T, u *server.User) {
	t.Helper()
	p := u.Permissions
	if p == nil || p.Publish == nil || p.Subscribe == nil {
		t.Fatalf("edge: permissions %+v: want publish and subscribe", p)
	}
	if p.Response != nil {
		t.Error("edge may answer requests (allow_responses); it serves no endpoints")
	}
	want := map[string]bool{contracts.AuthKeys.Subject(): true}
	for _, r := range edge.DefaultRoutes() {
		want[r.Endpoint.Subject] = true
	}
	have := map[string]bool{}
	for _, s := range p.Publish.Allow {
		if strings.Contains(s, ".v1.") {
			have[s] = true
			if !want[s] {
				t.Errorf("edge may call %s, which its allowlist does not route", s)
			}
		}
	}
	for s := range want {
		if !have[s] {
			t.Errorf("edge routes %s but may not call it", s)
		}
	}
	for _, s := range p.Subscribe.Allow {
		if strings.Contains(s, ".v1.") || s == "$SRV.>" {
			t.Errorf("edge may subscribe to %s: it serves no endpoints", s)
		}
	}
}

// natsEnvRequired checks that the server refuses a config whose password variable is unset,
// rather than starting with a user anyone can log in as.
func natsEnvRequired(t *testing.T) error {
	t.Setenv("MOA_NATS_EDGE_PASSWORD", "") // restored after the test
	os.Unsetenv("MOA_NATS_EDGE_PASSWORD")
	_, err := server.ProcessConfigFile("nats/nats.conf")
	if err == nil {
		return errors.New("nats.conf loaded with MOA_NATS_EDGE_PASSWORD empty")
	}
	return nil
}

// The real proof of the permissions: the services start and work together, each connected as
// its own user to a server running deploy/nats/nats.conf, and what a user is not allowed to
// do fails.
func TestServicesWorkUnderTheirNATSUsers(t *testing.T) {
	opts := loadNATSConfig(t)
	// One server of the cluster, alone: the cluster is TestNATSConfigFormsACluster's.
	opts.Cluster, opts.Routes, opts.PidFile = server.ClusterOpts{}, nil, ""
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		t.Fatal("nats-server with nats.conf did not start")
	}
	t.Cleanup(ns.Shutdown)
	url := ns.ClientURL()

	mongoURL := moatest.Mongo(t)
	var edgeURL string
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		cfg := system.Config{
			DataDir: t.TempDir(), External: true, HTTPAddr: "127.0.0.1:0", Services: []string{name},
			NATS:   system.NATSConfig{URL: url, User: name, Password: natsPassword(name)},
			Logger: testLogger(t), ServicePostgresURL: map[string]string{},
			Setting: func(service, key string) string {
				if service == "auth" && key == system.AuthOperatorSecret {
					return opsSecret
				}
				return ""
			},
		}
		if reg.Postgres {
			cfg.ServicePostgresURL[name] = moatest.Postgres(t)
		}
		if reg.Mongo {
			cfg.MongoURL = mongoURL
		}
		sys, err := system.Start(ctxFor(t, time.Minute), cfg)
		if err != nil {
			t.Fatalf("%s does not start under its NATS user: %v", name, err)
		}
		t.Cleanup(func() { _ = sys.Stop(ctxFor(t, time.Minute)) })
		if r := sys.Ready(ctxFor(t, 10*time.Second)); !r.Ready {
			t.Errorf("%s is not ready under its NATS user: %+v", name, r.Checks)
		}
		if name == "edge" {
			edgeURL = sys.HTTPURL()
		}
	}

	// The flows call the services as the edge user, as the edge does for app clients; the
	// last one goes through the real edge's WebSocket. Operator calls go as ops.
	edge := connectAs(t, url, "edge")
	rt, err := bus.New(edge.nc)
	if err != nil {
		t.Fatal(err)
	}
	c := rt.NewClient("edge")
	ops := connectAs(t, url, "ops")
	opsRT, err := bus.New(ops.nc)
	if err != nil {
		t.Fatal(err)
	}
	m := marketplaceFlow(t, c)
	room := chatFlow(t, c, edge, m)
	sagaFlow(t, c, opsRT.NewClient("ops"), opsRT, edge, m)
	edgeFlow(t, edgeURL, m, room)
	blogFlow(t, c, opsRT, m)

	search := connectAs(t, url, "search")
	search.mustBeDenied(t, "subscribe to another service's endpoints", func() error {
		_, err := search.nc.Subscribe("auth.v1.>", func(*nats.Msg) {})
		return err
	})
	for _, inbox := range []string{"_INBOX.>", system.InboxPrefix("auth") + ".>", system.InboxPrefix("edge") + ".*"} {
		search.mustBeDenied(t, "read the replies in "+inbox, func() error {
			_, err := search.nc.Subscribe(inbox, func(*nats.Msg) {})
			return err
		})
	}
	search.mustBeDenied(t, "publish another domain's events", func() error {
		return search.nc.Publish("evt.catalog.product_created.x", []byte("{}"))
	})
	edge.mustBeDenied(t, "publish events", func() error {
		return edge.nc.Publish("evt.auth.user_signed_up.x", []byte("{}"))
	})
	edge.mustBeDenied(t, "call an operator endpoint", func() error {
		return edge.nc.Publish(contracts.SubscriptionRebuildDashboard.Subject(), []byte("{}"))
	})
	notify := connectAs(t, url, "notify")
	notify.mustBeDenied(t, "publish the saga's events", func() error {
		return notify.nc.Publish("evt.subscription.activated.x", []byte("{}"))
	})
	notify.mustBeDenied(t, "read the pushes it sends", func() error {
		_, err := notify.nc.Subscribe("push.user.*", func(*nats.Msg) {})
		return err
	})
	notify.mustBeDenied(t, "push to a chat room", func() error {
		return notify.nc.Publish("push.room.x", []byte("{}"))
	})
	chat := connectAs(t, url, "chat")
	chat.mustBeDenied(t, "use JetStream streams", func() error {
		return chat.nc.Publish("$JS.API.STREAM.INFO.CHAT", nil)
	})
	billing := connectAs(t, url, "billing")
	billing.mustBeDenied(t, "publish the saga's own events", func() error {
		return billing.nc.Publish("evt.subscription.activated.x", []byte("{}"))
	})
	billing.mustBeDenied(t, "consume with another service's consumer", func() error {
		return billing.nc.Publish("$JS.API.CONSUMER.MSG.NEXT.SUBSCRIPTION.subscription_dashboard", []byte("{}"))
	})
	subscription := connectAs(t, url, "subscription")
	subscription.mustBeDenied(t, "delete another service's consumer", func() error {
		return subscription.nc.Publish("$JS.API.CONSUMER.DELETE.BILLING.billing_charge", nil)
	})
	subscription.mustBeDenied(t, "publish billing's events", func() error {
		return subscription.nc.Publish("evt.billing.payment_succeeded.x", []byte("{}"))
	})
}
