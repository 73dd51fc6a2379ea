package moatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterReadyTimeout bounds meta-leader election plus the probe stream;
// on two loaded cores an election can take several seconds.
const clusterReadyTimeout = 30 * time.Second

// Cluster is an n-node JetStream cluster on loopback, owned by a test.
type Cluster struct {
	nodes []*NATSServer
}

// NATSCluster starts n (at least 2) nats-servers routed into one JetStream
// cluster and returns once the cluster can place a stream with min(n, 3)
// replicas. The servers shut down when the test ends.
func NATSCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c, _, _ := startCluster(t, "moatest.NATSCluster", n, false, opts)
	return c
}

// startCluster starts the nodes; with proxied, every route (one proxy per
// ordered pair of nodes) and every client port goes through a Proxy.
func startCluster(t testing.TB, what string, n int, proxied bool, opts []Option) (*Cluster, [][]*Proxy, []*Proxy) {
	t.Helper()
	if n < 2 {
		t.Fatalf("%s: n = %d; a cluster needs at least 2 nodes (use moatest.NATS for one)", what, n)
	}
	// Routes name every peer's cluster port up front, so all ports are
	// chosen before any server starts.
	held, err := holdPorts(2 * n)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer held.releaseAll()
	ports := held.ports
	clientPorts, routePorts := ports[:n], ports[n:]
	var (
		routeProxies  [][]*Proxy
		clientProxies []*Proxy
		advertise     string
	)
	if proxied {
		routeProxies = make([][]*Proxy, n)
		for i := range n {
			routeProxies[i] = make([]*Proxy, n)
			for j := range n {
				if i != j {
					routeProxies[i][j] = NewProxy(t, fmt.Sprintf("127.0.0.1:%d", routePorts[j]))
				}
			}
			clientProxies = append(clientProxies, NewProxy(t, fmt.Sprintf("127.0.0.1:%d", clientPorts[i])))
		}
		// A server tells its peers where to reach the others (implicit
		// routes), which would go around the proxies; a node advertises an
		// address that refuses instead, so the only routes are the proxied
		// ones it was configured with.
		advertise = refusingAddr(t)
	}
	// The stores must be made before the shutdown is registered: cleanups
	// run last-in first-out, and a store must outlive its server.
	storeDirs := make([]string, n)
	for i := range storeDirs {
		storeDirs[i] = t.TempDir()
	}
	c := &Cluster{}
	t.Cleanup(c.shutdown)
	for i := range n {
		var routes []*url.URL
		for j, p := range routePorts {
			switch {
			case j == i:
			case proxied:
				routes = append(routes, &url.URL{Scheme: "nats-route", Host: routeProxies[i][j].Addr()})
			default:
				routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
			}
		}
		o := &server.Options{
			ServerName: fmt.Sprintf("moatest-%d", i),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   storeDirs[i],
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "moatest",
				Host: "127.0.0.1",
				Port: routePorts[i],
			},
			Routes: routes,
		}
		if proxied {
			o.Cluster.Advertise = advertise
			// Clients learn only the proxies they were given, never a
			// node's own address.
			o.Cluster.NoAdvertise = true
			// A frozen peer or client is given up within seconds, as
			// bus.StartEmbedded does, not after nats-server's two minutes.
			o.PingInterval = 2 * time.Second
			o.MaxPingsOut = 2
		}
		for _, opt := range opts {
			opt(o)
		}
		node := &NATSServer{opts: o, log: &natsLog{}}
		// Servers do not wait for their peers to start, so starting them
		// one after the other is fine. Its ports are held until now.
		held.release(i)
		held.release(n + i)
		srv, err := startNATS(o.Clone(), node.log)
		if err != nil {
			t.Fatalf("%s: node %d: %v", what, i, err)
		}
		node.srv = srv
		c.nodes = append(c.nodes, node)
	}
	if err := c.waitReady(t); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return c, routeProxies, clientProxies
}

// refusingAddr is a loopback address whose every connection is closed at
// once, for the test's lifetime.
func refusingAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("moatest: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// URLs is the comma-separated client URL list of all nodes, as nats.Connect
// takes it.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Conn connects to the cluster (any node, failing over between them) and
// closes the connection when the test ends.
func (c *Cluster) Conn(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, c.URLs(), opts)
}

// Servers are the running servers, in node order.
func (c *Cluster) Servers() []*server.Server {
	srvs := make([]*server.Server, len(c.nodes))
	for i, n := range c.nodes {
		srvs[i] = n.Server()
	}
	return srvs
}

// Node is node i, for Shutdown or Restart of a single server.
func (c *Cluster) Node(i int) *NATSServer { return c.nodes[i] }

// Restart restarts node i on the same ports with the same store and waits
// until it has caught up with the JetStream meta leader again.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	c.nodes[i].Restart(t)
	srv := c.nodes[i].Server()
	err := Poll(ctxTimeout(t, clusterReadyTimeout), PollInterval, func() error {
		if !srv.JetStreamIsCurrent() {
			return fmt.Errorf("node %d not caught up with the meta leader", i)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("moatest: restart cluster node %d: %v", i, err)
	}
}

func (c *Cluster) shutdown() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(n.Shutdown)
	}
	wg.Wait()
}

// waitReady waits for a meta leader and then proves the cluster usable by
// creating (and deleting) a replicated stream: a leader alone does not
// mean every peer has joined.
func (c *Cluster) waitReady(t testing.TB) error {
	ctx := ctxTimeout(t, clusterReadyTimeout)
	err := Poll(ctx, PollInterval, func() error {
		for _, s := range c.Servers() {
			if s.JetStreamIsLeader() {
				return nil
			}
		}
		return errors.New("no JetStream meta leader elected")
	})
	if err != nil {
		return err
	}
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	replicas := min(len(c.nodes), 3)
	return Poll(ctx, 50*time.Millisecond, func() error {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(attempt, jetstream.StreamConfig{
			Name:     "MOATEST_PROBE",
			Subjects: []string{"moatest.probe"},
			Replicas: replicas,
			Storage:  jetstream.MemoryStorage,
		})
		if err != nil {
			return fmt.Errorf("create R%d probe stream: %w", replicas, err)
		}
		return js.DeleteStream(attempt, "MOATEST_PROBE")
	})
}

// ctxTimeout is a context that ends after d or with the test.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ProxiedCluster is a Cluster whose routes and client connections all go
// through Proxies the test controls, so that it can freeze a node, cut it
// off from its peers, or from some of its clients, while it keeps running.
//
// The embedded Cluster's URLs and Conn reach the nodes directly, around the
// proxies: they are for the test's own setup and observation. The system
// under test connects with ClientURLs or ClientURL.
type ProxiedCluster struct {
	*Cluster
	routes  [][]*Proxy // routes[i][j] carries the route node i dials to node j
	clients []*Proxy   // clients[i] is in front of node i's client port
}

// NATSClusterProxied starts n (at least 2) nats-servers as NATSCluster does,
// with every route between two nodes and every node's client port behind a
// Proxy. The nodes ping their peers and clients every 2 s and give one up
// after 2 unanswered pings, as bus.StartEmbedded does.
func NATSClusterProxied(t testing.TB, n int, opts ...Option) *ProxiedCluster {
	t.Helper()
	c, routes, clients := startCluster(t, "moatest.NATSClusterProxied", n, true, opts)
	return &ProxiedCluster{Cluster: c, routes: routes, clients: clients}
}

// ClientURL is node i's client address through its proxy.
func (c *ProxiedCluster) ClientURL(i int) string { return c.clients[i].URL() }

// ClientURLs is every node's proxied client address, comma-separated.
func (c *ProxiedCluster) ClientURLs() string {
	urls := make([]string, len(c.clients))
	for i, p := range c.clients {
		urls[i] = p.URL()
	}
	return strings.Join(urls, ",")
}

// ClientProxy is the proxy in front of node i's client port.
func (c *ProxiedCluster) ClientProxy(i int) *Proxy { return c.clients[i] }

// RouteProxy is the proxy of the route node i dials to node j. A pair of
// nodes may use either direction's route, so a fault between them needs
// both RouteProxy(i, j) and RouteProxy(j, i): see Partition.
func (c *ProxiedCluster) RouteProxy(i, j int) *Proxy { return c.routes[i][j] }

// Partition freezes every route between node i and its peers, both ways:
// it keeps running and serving its clients, but hears nothing from the
// rest of the cluster, nor they from it.
func (c *ProxiedCluster) Partition(i int) {
	for j := range c.nodes {
		if j != i {
			c.routes[i][j].Freeze()
			c.routes[j][i].Freeze()
		}
	}
}

// Freeze partitions node i and freezes its client port too: what everyone
// sees of a node that is SIGSTOPped.
func (c *ProxiedCluster) Freeze(i int) {
	c.Partition(i)
	c.clients[i].Freeze()
}

// Cut closes every connection to and from node i, routes and clients, and
// refuses new ones: with Shutdown after it, a kill -9 (the peers see the
// connections drop, and nothing the node says on its way out).
func (c *ProxiedCluster) Cut(i int) {
	for j := range c.nodes {
		if j != i {
			c.routes[i][j].Cut()
			c.routes[j][i].Cut()
		}
	}
	c.clients[i].Cut()
}

// Heal restores every proxy.
func (c *ProxiedCluster) Heal() {
	for i := range c.nodes {
		c.clients[i].Restore()
		for j := range c.nodes {
			if j != i {
				c.routes[i][j].Restore()
			}
		}
	}
}
