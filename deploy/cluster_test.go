package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/deploy/deploygen"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

// What every server of the cluster reads from nats.conf, whichever deployment it is in.
func checkNATSNodeOptions(t *testing.T, what string, o *server.Options, node string, routeHosts []string) {
	t.Helper()
	if o.ServerName != node || !slices.Contains(o.Tags, deploygen.NATSFailureDomainTag+node) {
		t.Errorf("%s: server %q tags %v: want the name and failure domain of its environment", what, o.ServerName, o.Tags)
	}
	if !o.JetStream || !o.SyncAlways || o.JetStreamUniqueTag != deploygen.NATSFailureDomainTag {
		t.Errorf("%s: JetStream %v, sync always %v, unique tag %q: want a durable JetStream placing replicas in distinct failure domains",
			what, o.JetStream, o.SyncAlways, o.JetStreamUniqueTag)
	}
	if o.PingInterval != bus.PingInterval || o.MaxPingsOut != bus.MaxPingsOutstanding {
		t.Errorf("%s: pings clients every %s, %d outstanding: want bus's %s and %d", what,
			o.PingInterval, o.MaxPingsOut, bus.PingInterval, bus.MaxPingsOutstanding)
	}
	if o.LameDuckDuration != deploygen.NATSLameDuck || o.LameDuckGracePeriod != deploygen.NATSLameDuckGrace {
		t.Errorf("%s: lame duck %s after %s: want %s after %s", what, o.LameDuckDuration, o.LameDuckGracePeriod,
			deploygen.NATSLameDuck, deploygen.NATSLameDuckGrace)
	}
	if o.PidFile != deploygen.NATSPidFile {
		t.Errorf("%s: pid file %q: the lame-duck signal looks for %s", what, o.PidFile, deploygen.NATSPidFile)
	}
	if o.SystemAccount != "SYS" {
		t.Errorf("%s: system account %q: want SYS, for `nats server check`", what, o.SystemAccount)
	}
	if o.Cluster.Name != deploygen.NATSCluster || o.Cluster.Port != deploygen.NATSRoutePort {
		t.Errorf("%s: cluster %q on %d", what, o.Cluster.Name, o.Cluster.Port)
	}
	var routes []string
	for _, r := range o.Routes {
		routes = append(routes, r.Hostname())
		if r.Port() != fmt.Sprint(deploygen.NATSRoutePort) {
			t.Errorf("%s: route %s is not on the route port", what, r)
		}
	}
	if !slices.Equal(routes, routeHosts) {
		t.Errorf("%s: routes to %v, want every server %v", what, routes, routeHosts)
	}
}

func TestNATSConfigIsOneServerOfACluster(t *testing.T) {
	for _, node := range deploygen.ComposeNATS.Nodes {
		o := loadNATSNodeConfig(t, "nats/nats.conf", node)
		checkNATSNodeOptions(t, "nats.conf as "+node, o, node, deploygen.ComposeNATS.Nodes)
	}
}

// The generated nats.conf run as the three servers of a cluster, on loopback ports instead of
// the deployment's host names: the cluster forms, an R3 stream gets a replica on each
// failure domain, a service started under its user gets its critical streams at R3 on three
// failure domains, the system account answers the requests `nats server report jetstream` and
// `nats server check` make, and a server in lame duck hands its stream leadership over.
func TestNATSConfigFormsACluster(t *testing.T) {
	nodes := deploygen.ComposeNATS.Nodes
	ports := freePorts(t, 2*len(nodes))
	clientPorts, routePorts := ports[:len(nodes)], ports[len(nodes):]
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*server.Server, len(nodes))
	var urls []string
	for i, node := range nodes {
		o := loadNATSNodeConfig(t, "nats/nats.conf", node)
		o.Host, o.Port, o.HTTPPort, o.PidFile = "127.0.0.1", clientPorts[i], 0, ""
		o.Cluster.Host, o.Cluster.Port, o.Routes = "127.0.0.1", routePorts[i], routes
		o.StoreDir = t.TempDir()
		o.NoSigs, o.NoLog = true, true
		// The test's own lame duck, short: the deployment's values are checked above.
		o.LameDuckDuration, o.LameDuckGracePeriod = time.Second, 100*time.Millisecond
		srv, err := server.NewServer(o)
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		go srv.Start()
		t.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(15 * time.Second) {
			t.Fatalf("%s did not start", node)
		}
		servers[i] = srv
		urls = append(urls, srv.ClientURL())
	}
	all := urls[0] + "," + urls[1] + "," + urls[2]

	sys := connectAs(t, all, deploygen.NATSSysUser)
	ops := connectAs(t, all, "ops")
	js, err := jetstream.New(ops.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, time.Minute)
	var stream jetstream.Stream
	err = moatest.Poll(ctx, 100*time.Millisecond, func() error {
		attempt, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		stream, err = js.CreateOrUpdateStream(attempt, jetstream.StreamConfig{
			Name: "DEPLOY_PROBE", Subjects: []string{"deploy.probe"}, Replicas: 3, Storage: jetstream.FileStorage,
		})
		return err
	})
	if err != nil {
		t.Fatalf("an R3 stream on the cluster: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	placed := []string{info.Cluster.Leader}
	for _, r := range info.Cluster.Replicas {
		placed = append(placed, r.Name)
	}
	slices.Sort(placed)
	if !slices.Equal(placed, nodes) {
		t.Errorf("the R3 stream is on %v, want one replica on each failure domain %v", placed, nodes)
	}

	// billing, under its own user, declares its streams on the cluster: every critical one
	// it declares at the replicas declared (3), one replica per failure domain.
	sysBilling, err := system.Start(ctxFor(t, time.Minute), system.Config{
		DataDir: t.TempDir(), External: true, HTTPAddr: "127.0.0.1:0", Services: []string{"billing"},
		NATS:   system.NATSConfig{URL: all, User: "billing", Password: natsPassword("billing")},
		Logger: testLogger(t), ServicePostgresURL: map[string]string{"billing": moatest.Postgres(t)},
		Setting: func(string, string) string { return "" },
	})
	if err != nil {
		t.Fatalf("billing does not start on the cluster: %v", err)
	}
	t.Cleanup(func() { _ = sysBilling.Stop(ctxFor(t, time.Minute)) })
	if r := sysBilling.Ready(ctxFor(t, 10*time.Second)); !r.Ready {
		t.Errorf("billing is not ready on the cluster: %+v", r.Checks)
	}
	checked := 0
	for _, spec := range contracts.Streams() {
		st, err := js.Stream(ctx, spec.Name)
		if err != nil || !spec.Critical {
			continue // not billing's
		}
		checked++
		si, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		peers := []string{si.Cluster.Leader}
		for _, r := range si.Cluster.Replicas {
			peers = append(peers, r.Name)
		}
		slices.Sort(peers)
		if si.Config.Replicas != spec.Replicas || !slices.Equal(peers, nodes) {
			t.Errorf("critical stream %s: R%d on %v, want R%d on %v", spec.Name, si.Config.Replicas, peers, spec.Replicas, nodes)
		}
	}
	if checked < 2 {
		t.Errorf("billing declared %d critical streams, want its own and those it consumes", checked)
	}

	// `nats server report jetstream`: every server answers the system account's JSZ ping.
	answered := pingServers(t, sys.nc, "$SYS.REQ.SERVER.PING.JSZ", len(nodes))
	slices.Sort(answered)
	if !slices.Equal(answered, nodes) {
		t.Errorf("JSZ answered by %v, want %v", answered, nodes)
	}
	// `nats server check jetstream` asks each server's health, JetStream included.
	for _, s := range servers {
		var hz struct {
			Data struct {
				Status string `json:"status"`
			} `json:"data"`
		}
		subj := "$SYS.REQ.SERVER." + s.ID() + ".HEALTHZ"
		if err := moatest.Poll(ctx, 100*time.Millisecond, func() error {
			msg, err := sys.nc.Request(subj, []byte(`{}`), 2*time.Second)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(msg.Data, &hz); err != nil {
				return err
			}
			if hz.Data.Status != "ok" {
				return fmt.Errorf("healthz %s", msg.Data)
			}
			return nil
		}); err != nil {
			t.Errorf("%s: %v", s.Name(), err)
		}
	}
	// The services' users are in another account: they see no server internals.
	if _, err := ops.nc.Request("$SYS.REQ.SERVER.PING.JSZ", nil, time.Second); err == nil {
		t.Error("ops, a MOA account user, got an answer from the system account")
	}

	// Lame duck on the stream leader: leadership moves and the stream keeps acknowledging.
	if _, err := js.Publish(ctx, "deploy.probe", []byte("before")); err != nil {
		t.Fatal(err)
	}
	leader := info.Cluster.Leader
	for _, s := range servers {
		if s.Name() == leader {
			go s.LameDuckShutdown()
		}
	}
	err = moatest.Poll(ctx, 100*time.Millisecond, func() error {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		info, err := stream.Info(attempt)
		if err != nil {
			return err
		}
		if info.Cluster.Leader == "" || info.Cluster.Leader == leader {
			return fmt.Errorf("leader %q", info.Cluster.Leader)
		}
		_, err = js.Publish(attempt, "deploy.probe", []byte("after"))
		return err
	})
	if err != nil {
		t.Fatalf("after the leader %s went lame duck: %v", leader, err)
	}
}

// pingServers sends a system account ping and returns the names of the servers that answer
// within a second of the first answer.
func pingServers(t *testing.T, nc *nats.Conn, subject string, want int) []string {
	t.Helper()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for len(names) < want {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			break
		}
		var r struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
		}
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatalf("%s answer: %v", subject, err)
		}
		names = append(names, r.Server.Name)
	}
	return names
}

// freePorts are n loopback ports free at the time of the call.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}
