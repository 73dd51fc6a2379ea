package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// WithEmbeddedServer tells the runtime that nc connects to s, an in-process server, so the
// durability guard reads s's JetStream settings (sync) from its options instead of asking the
// system account.
func WithEmbeddedServer(s *server.Server) Option { return func(r *Runtime) { r.embedded = s } }

// DurabilityWarnings lists what CheckDurability found weaker than a critical stream should be
// but let run: R1 on a single server, a server that does not fsync before acknowledging.
// /status shows them; each was logged once as a warning.
func (r *Runtime) DurabilityWarnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.durWarn))
	for _, w := range r.durWarn {
		out = append(out, w)
	}
	slices.Sort(out)
	return out
}

// CappedStreams lists the non-critical streams CheckDurability found with fewer replicas than
// declared because JetStream has fewer servers than that: expected on a single server (moa
// dev), and logged once for all by the caller rather than once per stream and service.
func (r *Runtime) CappedStreams() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.capped)
	slices.Sort(out)
	return slices.Compact(out)
}

func (r *Runtime) noteCapped(stream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.capped, stream) {
		r.capped = append(r.capped, stream)
	}
}

// warnDurability records and logs a durability warning once per key: every service checks
// the dead-letter stream, and the log should say it once.
func (r *Runtime) warnDurability(key, msg string, args ...any) {
	r.mu.Lock()
	if r.durWarn == nil {
		r.durWarn = map[string]string{}
	}
	_, seen := r.durWarn[key]
	text := msg
	for i := 0; i+1 < len(args); i += 2 {
		text += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	r.durWarn[key] = text
	r.mu.Unlock()
	if seen {
		return
	}
	if r.sharedWarnings != nil {
		if _, said := r.sharedWarnings.said.LoadOrStore(r.nc.ConnectedServerId()+" "+key, true); said {
			return
		}
	}
	r.log.Warn(msg, args...)
}

// SharedWarnings lets the runtimes of one process that share a server log each durability
// warning once (WithSharedWarnings): moa dev hosts every service on a runtime of its own, and
// each would repeat the same warning about the same shared stream (the DLQ once per service).
// Each runtime still reports the warning (DurabilityWarnings, /status).
type SharedWarnings struct{ said sync.Map } // server id + warning key -> true

// WithSharedWarnings makes the runtime log a durability warning only if no other runtime with
// the same w logged it for the same server.
func WithSharedWarnings(w *SharedWarnings) Option {
	return func(r *Runtime) { r.sharedWarnings = w }
}

// checkSync warns when critical streams live on a server that does not fsync every write before
// acknowledging it (sync_interval other than always): an OS crash or a power loss then loses
// acknowledged events. It reads the setting from the embedded server's options, or from the
// servers' varz through the system account; when the connection's account cannot read varz it
// says so at debug level and checks nothing.
func (r *Runtime) checkSync(ctx context.Context, critical []string) {
	if len(critical) == 0 {
		return
	}
	// Every service of a process checks at its start; the servers' setting is read once (its
	// own lock: reading varz takes up to varzWait, and r.mu guards what starting services add).
	r.syncMu.Lock()
	if r.syncRead == nil {
		r.syncRead = &syncState{}
		r.syncRead.lazy, r.syncRead.known = r.lazyServers(ctx)
	}
	lazy, known := r.syncRead.lazy, r.syncRead.known
	r.syncMu.Unlock()
	if !known {
		r.log.Debug("durability guard: cannot read the server's sync setting (no system account access); not checked")
		return
	}
	if len(lazy) > 0 {
		r.warnDurability("sync", "WARNING: critical streams on a server that does not fsync before acknowledging (sync_interval is not always): an OS crash or power loss can lose acknowledged events",
			"streams", strings.Join(critical, ","), "servers", strings.Join(lazy, ","))
	}
}

// syncState is what lazyServers found.
type syncState struct {
	lazy  []string
	known bool
}

// lazyServers names the servers that do not sync always; known is false when no server's
// setting could be read.
func (r *Runtime) lazyServers(ctx context.Context) (lazy []string, known bool) {
	if r.embedded != nil {
		cfg := r.embedded.JetStreamConfig()
		if cfg == nil {
			return nil, false
		}
		if !cfg.SyncAlways {
			lazy = append(lazy, r.embedded.Name())
		}
		return lazy, true
	}
	for _, v := range r.varz(ctx) {
		known = true
		if !v.Data.JetStream.Config.SyncAlways {
			lazy = append(lazy, v.Server.Name)
		}
	}
	return lazy, known
}

// varzReply is the part of a $SYS.REQ.SERVER.PING.VARZ answer the guard reads.
type varzReply struct {
	Server struct {
		Name string `json:"name"`
	} `json:"server"`
	Data struct {
		JetStream struct {
			Config *struct {
				SyncAlways bool `json:"sync_always"`
			} `json:"config"`
			// Meta is the JetStream meta group as this server sees it; absent outside a
			// cluster.
			Meta *struct {
				Size int `json:"cluster_size"`
			} `json:"meta"`
		} `json:"jetstream"`
	} `json:"data"`
}

// varzWait bounds how long the guard collects varz answers: every server of a cluster answers
// the ping, and collecting stops once every server the connection knows of has answered (one,
// outside a cluster); an account without access gets no responders at once. Only a connection
// whose permissions drop the ping waits it out.
const varzWait = 500 * time.Millisecond

// varz asks every server for its varz and returns the answers of JetStream servers.
func (r *Runtime) varz(ctx context.Context) []varzReply {
	inbox := r.nc.NewRespInbox()
	sub, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		return nil
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := r.nc.PublishRequest("$SYS.REQ.SERVER.PING.VARZ", inbox, []byte("{}")); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, varzWait)
	defer cancel()
	var out []varzReply
	known := len(r.nc.Servers()) // the pool, with the servers a cluster announced
	for len(out) < max(known, 1) {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return out
		}
		if m.Header.Get("Status") == "503" || len(m.Data) == 0 {
			return out // no responders: this account cannot reach the system account
		}
		var v varzReply
		if json.Unmarshal(m.Data, &v) == nil && v.Data.JetStream.Config != nil {
			out = append(out, v)
		}
	}
	return out
}

// peersFresh is how long a count of JetStream peers is reused: EnsureStreams and every guard
// round ask per stream, and a cluster grows or shrinks rarely.
const peersFresh = 10 * time.Second

// replicaCap is the replica count a stream declared with n replicas gets on the connected
// deployment: n when the JetStream cluster has at least n peers, otherwise the largest odd
// count it can hold (R1 on a single server, whether or not its config names a cluster, and on
// a 2-node cluster). Odd, because an even count buys no availability: R2 needs both replicas
// for a quorum, so it stops writes when either node is down, where R1 stops only with its one.
// A capped critical stream is logged as a WARNING by CheckDurability.
func (r *Runtime) replicaCap(n int) int {
	n = max(n, 1)
	peers := r.jetStreamPeers()
	if peers >= n {
		return n
	}
	if peers%2 == 0 {
		peers--
	}
	return max(peers, 1)
}

// jetStreamPeers counts the servers of the JetStream meta group, the servers a replica can be
// placed on, offline ones included (a node down for a restart comes back and its replicas
// with it). It reads, where the connection can: the embedded server's meta group; the servers'
// varz through the system account; otherwise the servers the client knows of (the cluster
// announces its members' client URLs), when the server names a cluster at all.
func (r *Runtime) jetStreamPeers() int {
	g := &r.guard
	g.peersMu.Lock()
	defer g.peersMu.Unlock()
	if g.peers > 0 && time.Since(g.peersAt) < peersFresh {
		return g.peers
	}
	n, how := r.countPeers()
	if n != g.peers {
		r.log.Debug("durability guard: JetStream peers counted", "peers", n, "from", how)
	}
	g.peers, g.peersAt = n, time.Now()
	return n
}

func (r *Runtime) countPeers() (int, string) {
	if s := r.embedded; s != nil {
		if !s.JetStreamIsClustered() {
			return 1, "embedded server, not clustered"
		}
		// Varz, not JetStreamClusterPeers: that one answers on the meta leader only, and
		// leaves offline peers out.
		if v, err := s.Varz(nil); err == nil && v.JetStream.Meta != nil {
			return max(v.JetStream.Meta.Size, 1), "embedded server's meta group"
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 2*varzWait)
	defer cancel()
	if vs := r.varz(ctx); len(vs) > 0 {
		n := 1
		for _, v := range vs {
			if m := v.Data.JetStream.Meta; m != nil {
				n = max(n, m.Size)
			}
		}
		return n, "varz meta group"
	}
	if r.nc.ConnectedClusterName() == "" {
		return 1, "no cluster name"
	}
	return max(distinctServers(ctx, r.nc.Servers()), 1), "servers known to the client"
}

// distinctServers counts the servers behind urls: the client's pool holds the configured URLs
// and those the cluster announced, and one server may be in it twice (a host name configured,
// its address announced). URLs whose host names resolve to a common address and share the
// port count once. A name that resolves to none of the servers' own addresses (a load
// balancer's) still counts one too many: give the system account's varz to be exact.
func distinctServers(ctx context.Context, urls []string) int {
	seen := map[string]bool{}
	n := 0
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		addrs := []string{u.Hostname()}
		if net.ParseIP(u.Hostname()) == nil {
			if ips, err := net.DefaultResolver.LookupHost(ctx, u.Hostname()); err == nil {
				addrs = ips
			}
		}
		dup := false
		for _, a := range addrs {
			k := net.JoinHostPort(a, u.Port())
			dup = dup || seen[k]
			seen[k] = true
		}
		if !dup {
			n++
		}
	}
	return n
}
