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
//
// Never wait with time.Sleep: Eventually and WaitFor poll a condition and
// report the last failure when it does not come true in time.
package moatest
