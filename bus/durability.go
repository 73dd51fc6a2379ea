package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
	if !seen {
		r.log.Warn(msg, args...)
	}
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
