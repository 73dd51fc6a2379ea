// Package moatest boots the infrastructure a Moa service talks to, inside
// `go test`, with one call each: NATS with JetStream (a single server or a
// cluster), PostgreSQL and a MongoDB-compatible document store.
//
//	func TestOrders(t *testing.T) {
//		nc := moatest.NATS(t).Conn(t)        // embedded nats-server, JetStream on
//		pg := moatest.Postgres(t)            // URL of a fresh, empty database
//		db := moatest.MongoDB(t)             // fresh database on embedded FerretDB
//		...
//		moatest.WaitFor(t, 5*time.Second, func() error { ... })
//	}
//
// Every helper registers its own teardown with t.Cleanup, so tests neither
// stop nor delete anything themselves, and every helper is safe to call
// from parallel tests.
//
// Nothing needs to run beforehand. NATS and the document store (FerretDB
// with SQLite) run inside the test process. PostgreSQL runs from the
// machine's server binaries (on Debian: apt-get install -y postgresql):
// one throwaway server per test binary, initialised on first use, tuned
// for speed over durability, and killed with the test process whatever
// happens; each Postgres call creates its own database on it and drops it
// afterwards. A package that uses Postgres should have
//
//	func TestMain(m *testing.M) { moatest.Main(m) }
//
// so that the server is shut down cleanly and its files removed.
//
// Environment:
//
//	MOA_TEST_POSTGRES_URL  use this PostgreSQL server (a superuser or
//	                       CREATEDB URL) instead of a local throwaway one
//	MOA_TEST_MONGO_URL     use this MongoDB server instead of FerretDB
//
// Fault tests get handles they can break: NATSServer.Restart and
// Cluster.Restart bring a server back on the same port with the same store,
// PostgresServer gives a dedicated PostgreSQL with Restart and Kill.
// NATSClusterProxied puts every route and client port of a cluster behind a
// Proxy, so a test can freeze a node, cut it, or partition it from its peers
// while it runs; NewProxy does the same in front of any one address.
//
// A service's component test boots it with Service, which does all of the
// above that the service needs and hands the test what it drives and
// inspects the service with:
//
//	s := moatest.Service(t, catalog.Start, moatest.With{
//		Postgres: true,                                  // or Mongo: true
//		Settings: map[string]string{"CACHE_TTL": "1s"},  // keys without MOA_CATALOG_
//		Declared: catalog.Settings,
//	})
//	ctx := s.As(t.Context(), authntest.Seller())         // a token for any role
//	p, err := s.Client.Catalog.CreateProduct(ctx, req)   // the typed client
//	moatest.WantError(t, err, contracts.ErrValidation, "title")
//	evs := s.WaitEvents(t, "evt.catalog.product_created.>", 1)
//	s.Postgres.QueryRow(...)                             // assertions on the store
//	s.Restart(t)                                         // stop, start on the same Env
//	r := s.Replica(t)                                    // a second instance
//	in := s.Pushes(t, user.UserID)                       // what push.user.<id> delivers
//	in.NextOf(t, contracts.PushTopicChatMessage, &msg)   // the next push on a topic
//
// Service takes the service's start function as it is: Start returning
// bus.Component, or one returning the service's own component type, which
// then is Kit.Component's type. Without a token issuer (auth, which serves
// its own keys) set With.NoIssuer. A test that takes the document store down
// and up again gives the service its own server with With.MongoURL. A test that starts an instance by hand
// (to see a bad configuration refused) takes a fresh connection from
// Runtime(t, s.NATS).
//
// Never wait with time.Sleep: Eventually and WaitFor poll a condition and
// report the last failure when it does not come true in time.
package moatest
