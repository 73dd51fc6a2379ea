package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/contracts"
)

// DurabilityWatchInterval is how often the durability guard re-checks the streams a runtime's
// services rely on, by default. A check at start says nothing about an operator's
// `nats stream edit --replicas 1` an hour later, or a node that died since.
const DurabilityWatchInterval = 30 * time.Second

// watchInfoWait bounds the guard's wait for one stream's info: the JetStream API answers in
// milliseconds, or not at all while the stream's group or the meta group has no leader.
const watchInfoWait = 5 * time.Second

// guardState is the durability guard's state on a runtime.
type guardState struct {
	peersMu sync.Mutex
	peers   int // JetStream peers, counted at peersAt
	peersAt time.Time

	mu       sync.Mutex
	every    time.Duration // WithDurabilityWatch
	watched  map[string]contracts.StreamSpec
	problems map[string][]string // by stream, as the last round found them
	job      *Job
	stopped  bool
	gauge    *prometheus.GaugeVec
}

// WithDurabilityWatch sets how often the durability guard re-checks the streams passed to
// CheckDurability (default DurabilityWatchInterval); a negative interval turns the watch off.
func WithDurabilityWatch(every time.Duration) Option {
	return func(r *Runtime) { r.guard.every = every }
}

// StreamProblems is what the durability guard found wrong with one stream in its last round.
type StreamProblems struct {
	Stream   string   `json:"stream"`
	Problems []string `json:"problems"`
}

// DurabilityProblems lists the streams whose last check found problems: weaker than declared
// (an operator edited the replicas down, say), a replica offline or not current, no leader, or
// no answer from the JetStream API about it. /readyz and /status show them; the metric
// moa_stream_durability_problems{stream} counts them. The list is empty before the first
// round, which runs one interval after the services' start check.
func (r *Runtime) DurabilityProblems() []StreamProblems {
	g := &r.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []StreamProblems
	for _, name := range slices.Sorted(maps.Keys(g.problems)) {
		if p := g.problems[name]; len(p) > 0 {
			out = append(out, StreamProblems{Stream: name, Problems: slices.Clone(p)})
		}
	}
	return out
}

// watch adds specs to what the guard re-checks and starts the watch on the first call.
func (r *Runtime) watch(specs ...contracts.StreamSpec) {
	g := &r.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped || g.every < 0 {
		return
	}
	if g.watched == nil {
		g.watched = map[string]contracts.StreamSpec{}
		g.problems = map[string][]string{}
	}
	for _, s := range specs {
		g.watched[s.Name] = s
	}
	if g.job != nil {
		return
	}
	every := g.every
	if every == 0 {
		every = DurabilityWatchInterval
	}
	g.gauge = RegisterOrGet(r.reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "moa_stream_durability_problems",
		Help: "Problems the durability guard found with a stream in its last check: weaker than declared, replicas offline or not current, no leader (0: as declared).",
	}, []string{"stream"}))
	// A round reads each stream's info, each within watchInfoWait.
	g.job = Every("durability guard", every, r.inspectDurability)
	g.job.Start(r.ctx, r.log)
}

// stopWatch ends the watch (Close).
func (r *Runtime) stopWatch(ctx context.Context) error {
	g := &r.guard
	g.mu.Lock()
	g.stopped = true
	job := g.job
	g.mu.Unlock()
	if job == nil {
		return nil
	}
	return job.Stop(ctx)
}

// inspectDurability is one round of the watch: each watched stream is compared with its
// declaration and its cluster state. A change is logged (WARNING when a problem appears, info
// when a stream is back to its declaration); nothing is changed on the server: an operator who
// edited a stream down is told, not overruled, until the next start's EnsureStreams raises it
// back (and logs that).
func (r *Runtime) inspectDurability(ctx context.Context) error {
	g := &r.guard
	g.mu.Lock()
	specs := slices.Collect(maps.Values(g.watched))
	g.mu.Unlock()
	slices.SortFunc(specs, func(a, b contracts.StreamSpec) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range specs {
		if ctx.Err() != nil {
			return nil // stopping: a canceled info request is not a problem of the stream
		}
		found := r.streamProblems(ctx, s)
		if ctx.Err() != nil {
			return nil
		}
		g.mu.Lock()
		before := g.problems[s.Name]
		g.problems[s.Name] = found
		g.mu.Unlock()
		g.gauge.WithLabelValues(s.Name).Set(float64(len(found)))
		switch {
		case slices.Equal(before, found):
		case len(found) > 0:
			r.log.Warn("WARNING: durability guard: stream not as declared or not fully replicated",
				"stream", s.Name, "critical", s.Critical, "problems", strings.Join(found, "; "))
		default:
			r.log.Info("durability guard: stream back to its declaration", "stream", s.Name)
		}
	}
	r.log.Debug("durability guard: round done", "streams", len(specs))
	return nil
}

// streamProblems lists what is wrong with stream s now, in a stable order.
func (r *Runtime) streamProblems(ctx context.Context, s contracts.StreamSpec) []string {
	// One stream without an answer (its group lost quorum) must not hold up the others.
	ctx, cancel := context.WithTimeout(ctx, watchInfoWait)
	defer cancel()
	st, err := r.js.Stream(ctx, s.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return []string{"stream does not exist"}
	case err != nil:
		// No meta leader, or the stream's group has no quorum: JetStream cannot answer for it.
		return []string{fmt.Sprintf("no stream info: %v", err)}
	}
	info := st.CachedInfo()
	problems := r.weaknesses(s, info.Config)
	if c := info.Cluster; c != nil && info.Config.Replicas > 1 {
		if c.Leader == "" {
			problems = append(problems, "no leader")
		}
		// The config may say R3 while the peers are still being added (a scale-up) or could
		// not be placed.
		if placed := len(c.Replicas) + min(len(c.Leader), 1); placed < info.Config.Replicas {
			problems = append(problems, fmt.Sprintf("%d of %d replicas placed", placed, info.Config.Replicas))
		}
		reps := slices.Clone(c.Replicas)
		slices.SortFunc(reps, func(a, b *jetstream.PeerInfo) int { return strings.Compare(a.Name, b.Name) })
		for _, p := range reps {
			switch {
			case p.Offline:
				problems = append(problems, fmt.Sprintf("replica on %s offline", p.Name))
			case !p.Current:
				problems = append(problems, fmt.Sprintf("replica on %s not current", p.Name))
			}
		}
	}
	return problems
}

// noteRaise logs EnsureStreams bringing a stream's replicas back up to its declaration (an
// operator edited it down): at start the declaration wins, but not silently.
func (r *Runtime) noteRaise(s contracts.StreamSpec, have, want jetstream.StreamConfig) {
	if have.Replicas < want.Replicas {
		r.log.Warn("WARNING: stream has fewer replicas than declared; raising it back to the declaration",
			"stream", s.Name, "replicas", have.Replicas, "raised_to", want.Replicas, "declared", s.Replicas)
	}
}
