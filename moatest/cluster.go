package moatest

import (
	"context"
	"errors"
	"fmt"
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
	if n < 2 {
		t.Fatalf("moatest.NATSCluster: n = %d; a cluster needs at least 2 nodes (use moatest.NATS for one)", n)
	}
	// Routes name every peer's cluster port up front, so all ports are
	// chosen before any server starts.
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatalf("moatest.NATSCluster: %v", err)
	}
	clientPorts, routePorts := ports[:n], ports[n:]
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
			if j != i {
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
		for _, opt := range opts {
			opt(o)
		}
		node := &NATSServer{opts: o, log: &natsLog{}}
		// Servers do not wait for their peers to start, so starting them
		// one after the other is fine.
		srv, err := startNATS(o.Clone(), node.log)
		if err != nil {
			t.Fatalf("moatest.NATSCluster: node %d: %v", i, err)
		}
		node.srv = srv
		c.nodes = append(c.nodes, node)
	}
	if err := c.waitReady(t); err != nil {
		t.Fatalf("moatest.NATSCluster: %v", err)
	}
	return c
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
