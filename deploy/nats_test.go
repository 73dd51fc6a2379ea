package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

// natsUsers are the users nats.conf must define besides one per registered service.
var natsUsers = []string{"edge", "ops"}

func natsPassword(user string) string { return user + "-test-password" }

// loadNATSConfig parses deploy/nats/nats.conf with nats-server's own parser, with the
// passwords it reads from the environment set.
func loadNATSConfig(t *testing.T) *server.Options {
	t.Helper()
	for _, u := range append(system.Services(), natsUsers...) {
		t.Setenv("MOA_NATS_"+strings.ToUpper(u)+"_PASSWORD", natsPassword(u))
	}
	opts, err := server.ProcessConfigFile("nats/nats.conf")
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
		if u == nil {
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
	if missing := natsEnvRequired(t); missing != nil {
		t.Error(missing)
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
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		cfg := system.Config{
			DataDir: t.TempDir(), External: true, HTTPAddr: "127.0.0.1:0", Services: []string{name},
			NATS:   system.NATSConfig{URL: url, User: name, Password: natsPassword(name)},
			Logger: testLogger(t), ServicePostgresURL: map[string]string{},
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
	}

	edge := connectAs(t, url, "edge")
	rt, err := bus.New(edge.nc)
	if err != nil {
		t.Fatal(err)
	}
	marketplaceFlow(t, rt.NewClient("edge"))

	search := connectAs(t, url, "search")
	search.mustBeDenied(t, "subscribe to another service's endpoints", func() error {
		_, err := search.nc.Subscribe("auth.v1.>", func(*nats.Msg) {})
		return err
	})
	search.mustBeDenied(t, "publish another domain's events", func() error {
		return search.nc.Publish("evt.catalog.product_created.x", []byte("{}"))
	})
	edge.mustBeDenied(t, "publish events", func() error {
		return edge.nc.Publish("evt.auth.user_signed_up.x", []byte("{}"))
	})
}

// marketplaceFlow goes through the three services as the edge would: a seller signs up and
// publishes a product, a consumer signs up and searches for it, and the search service
// records the search from the catalog's event. Each step needs some permission of nats.conf.
func marketplaceFlow(t *testing.T, c *bus.Client) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	seller := signupLogin(t, ctx, c, "seller@example.test", contracts.RoleSeller)
	created, err := bus.Call(bus.WithAuthToken(ctx, seller), c, contracts.CatalogCreateProduct, contracts.CreateProductRequest{
		Title: "Family video plan", PriceAmount: 5900, Currency: "KRW", BillingPeriod: contracts.BillingMonthly,
		Terms: "Cancel any time. No refunds for the current period.", Capacity: 4, Tags: []string{"video"},
	})
	if err != nil {
		t.Fatalf("catalog.create_product (catalog verifies the token with auth.v1.keys, writes its outbox): %v", err)
	}
	if _, err := bus.Call(ctx, c, contracts.CatalogListProducts, contracts.ListProductsRequest{}); err != nil {
		t.Fatalf("catalog.list_products (KV read cache): %v", err)
	}
	buyer := signupLogin(t, ctx, c, "buyer@example.test", contracts.RoleConsumer)
	page, err := bus.Call(bus.WithAuthToken(ctx, buyer), c, contracts.CatalogSearchProducts, contracts.SearchProductsRequest{Query: "family"})
	if err != nil {
		t.Fatalf("catalog.search_products: %v", err)
	}
	if !strings.Contains(fmt.Sprint(page), created.ID) {
		t.Errorf("search for the product found %+v", page)
	}
	moatest.WaitFor(t, time.Minute, func() error {
		recent, err := bus.Call(bus.WithAuthToken(ctx, buyer), c, contracts.SearchRecent, contracts.SearchRecentRequest{})
		if err != nil {
			return err
		}
		if len(recent.Items) == 0 || recent.Items[0].Query != "family" {
			return fmt.Errorf("recent searches %+v: the catalog.searched event did not reach search", recent.Items)
		}
		return nil
	})
}

func signupLogin(t *testing.T, ctx context.Context, c *bus.Client, email string, role contracts.Role) string {
	t.Helper()
	const password = "correct horse battery"
	if _, err := bus.Call(ctx, c, contracts.AuthSignup, contracts.SignupRequest{Email: email, Password: password, Role: role, DisplayName: "Test"}); err != nil {
		t.Fatalf("auth.signup: %v", err)
	}
	s, err := bus.Call(ctx, c, contracts.AuthLogin, contracts.LoginRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("auth.login: %v", err)
	}
	return s.AccessToken
}

// userConn is a connection as one nats.conf user that records permission violations.
type userConn struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []error
}

func connectAs(t *testing.T, url, user string) *userConn {
	t.Helper()
	u := &userConn{}
	nc, err := nats.Connect(url, nats.UserInfo(user, natsPassword(user)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			u.mu.Lock()
			u.errs = append(u.errs, err)
			u.mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	u.nc = nc
	return u
}

// mustBeDenied runs op and waits for the server's permissions violation, which arrives
// asynchronously.
func (u *userConn) mustBeDenied(t *testing.T, what string, op func() error) {
	t.Helper()
	u.mu.Lock()
	u.errs = nil
	u.mu.Unlock()
	if err := op(); err != nil {
		if errors.Is(err, nats.ErrPermissionViolation) {
			return
		}
		t.Fatalf("%s: %v", what, err)
	}
	_ = u.nc.Flush()
	moatest.Eventually(t, 10*time.Second, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, err := range u.errs {
			if errors.Is(err, nats.ErrPermissionViolation) {
				return true
			}
		}
		return false
	}, "a permissions violation when trying to "+what)
}
