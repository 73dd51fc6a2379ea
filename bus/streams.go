package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// StreamConfig translates a declaration into a JetStream config. replicas is the number the
// server can honour (1 outside a cluster).
func StreamConfig(s contracts.StreamSpec, replicas int) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        s.Name,
		Description: s.Description,
		Subjects:    s.Subjects,
		MaxAge:      s.MaxAge,
		Duplicates:  s.Duplicates,
		Replicas:    replicas,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
	}
	if s.Storage == contracts.MemoryStorage {
		cfg.Storage = jetstream.MemoryStorage
	}
	switch s.Retention {
	case contracts.WorkQueueRetention:
		cfg.Retention = jetstream.WorkQueuePolicy
	case contracts.InterestRetention:
		cfg.Retention = jetstream.InterestPolicy
	}
	return cfg
}

// replicasFor caps the declared replica count at what the connected deployment has: the
// number of JetStream peers, not the presence of a cluster name (see replicaCap).
func (r *Runtime) replicasFor(s contracts.StreamSpec) int { return r.replicaCap(s.Replicas) }

// EnsureStreams creates each stream, or updates it to the declared config. It is idempotent
// and safe to run from every instance at start. It never weakens a stream an operator made
// stronger than declared (more replicas, longer MaxAge or duplicate window), and a stream it
// cannot update because it is weaker in a way JetStream cannot change in place (memory
// storage where file is declared) fails with contracts.ErrStreamTooWeak naming the problem.
//
// Instances start together, often with the server: each stream is one start-up step
// ([Runtime.Setup]), retried while the JetStream API is busy or not ready.
func (r *Runtime) EnsureStreams(ctx context.Context, specs ...contracts.StreamSpec) error {
	for _, s := range specs {
		err := r.Setup(ctx, "stream "+s.Name, func(ctx context.Context) error { return r.ensureStream(ctx, s) })
		if err != nil {
			return err
		}
	}
	return nil
}

// ensureStream creates the stream first and reads and updates it only when it exists with
// another configuration. Create-first matters in a cluster: a create of an identical stream
// answers at once (also while another instance's create is in flight), whereas an update that
// reaches the meta leader while a create of the same stream is in flight got no answer at all
// (nats-server 2.15; the update-then-create of nats.go's CreateOrUpdateStream run by two
// instances at once timed out both, every time in three). Instances starting together declare
// identical streams, so the update is left for a stream whose declaration or operator changed.
func (r *Runtime) ensureStream(ctx context.Context, s contracts.StreamSpec) error {
	cfg := StreamConfig(s, r.replicasFor(s))
	_, err := r.js.CreateStream(ctx, cfg)
	switch {
	case err == nil:
		// The create may be answered before the meta layer has applied it everywhere: an
		// info request (the durability check's, next) then finds no stream. The step is done
		// when the stream can be seen; until then it is not ready, and the create, idempotent,
		// is asked again.
		if _, err := r.newStreamInfo(ctx, s.Name); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return Transient(fmt.Errorf("bus: stream %s created but not visible yet: %w", s.Name, err))
			}
			return fmt.Errorf("bus: stream %s: %w", s.Name, err)
		}
		return nil
	case !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
		return fmt.Errorf("bus: create stream %s: %w", s.Name, err)
	}
	st, err := r.newStreamInfo(ctx, s.Name)
	if err != nil {
		return fmt.Errorf("bus: stream %s: %w", s.Name, err)
	}
	keepStronger(&cfg, st.CachedInfo().Config)
	r.noteRaise(s, st.CachedInfo().Config, cfg)
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		if weak := r.weaknesses(s, st.CachedInfo().Config); len(weak) > 0 {
			return contracts.ErrStreamTooWeak.Msg("stream %s cannot be brought to its declaration: it has %s (%v)", s.Name, strings.Join(weak, "; "), err).Wrap(err)
		}
		return fmt.Errorf("bus: update stream %s: %w", s.Name, err)
	}
	return nil
}

// newStreamInfo asks for the info of a stream that may have been created a moment ago, for at
// most streamInfoWait. In a cluster only the leader of a stream's group answers, and while a
// new group elects its first leader the others stay silent: the silence means "not yet", and
// waiting out the attempt's whole deadline for it cost starts ten seconds each time. Its
// deadline passing makes the step retry (TransientSetupError).
func (r *Runtime) newStreamInfo(ctx context.Context, name string) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, streamInfoWait)
	defer cancel()
	return r.js.Stream(ctx, name)
}

// streamInfoWait is longer than an answered info takes on a loaded cluster (milliseconds),
// shorter than an election of a new group under a start of every service (seconds).
const streamInfoWait = 2 * time.Second

// keepStronger keeps the existing settings that are stronger than the declared ones.
func keepStronger(cfg *jetstream.StreamConfig, have jetstream.StreamConfig) {
	cfg.Replicas = max(cfg.Replicas, have.Replicas)
	if have.MaxAge == 0 || (cfg.MaxAge != 0 && have.MaxAge > cfg.MaxAge) {
		cfg.MaxAge = have.MaxAge
	}
	cfg.Duplicates = max(cfg.Duplicates, have.Duplicates)
	if cfg.MaxAge != 0 && cfg.Duplicates > cfg.MaxAge {
		cfg.Duplicates = cfg.MaxAge
	}
}

// CheckDurability compares the streams on the server with their declarations and returns
// contracts.ErrStreamTooWeak for a critical stream that is weaker: memory storage where file
// was declared, fewer replicas than declared in a cluster, a retention that deletes messages
// earlier (work queue or interest where limits is declared), a shorter MaxAge, or a shorter
// duplicate window (the outbox relay relies on it to drop re-published events). Services call
// it at start and refuse to run.
//
// What does not refuse a start is still said: a weaker non-critical stream is logged, and for
// critical streams a replica count capped to 1 by a single server, and a server that does not
// fsync before acknowledging (read where the connection can: the embedded server's options, or
// varz through the system account), are logged once as WARNING and listed by
// [Runtime.DurabilityWarnings] for /status.
func (r *Runtime) CheckDurability(ctx context.Context, specs ...contracts.StreamSpec) error {
	var errs []error
	var critical []string
	for _, s := range specs {
		// A start checks streams it has just created, whose group may still be electing its
		// first leader and not answer yet: asked as a start-up step (a missing stream is
		// still an answer, and refused at once).
		var st jetstream.Stream
		err := r.Setup(ctx, "durability of stream "+s.Name, func(ctx context.Context) (err error) {
			st, err = r.newStreamInfo(ctx, s.Name)
			return err
		})
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				errs = append(errs, contracts.ErrStreamTooWeak.Msg("stream %s does not exist", s.Name))
				continue
			}
			return fmt.Errorf("bus: stream %s: %w", s.Name, err)
		}
		info := st.CachedInfo()
		if s.Critical {
			critical = append(critical, s.Name)
		}
		weak := r.weaknesses(s, info.Config)
		if len(weak) == 0 {
			switch {
			case info.Config.Replicas >= s.Replicas:
			case s.Critical:
				r.warnDurability("replicas "+s.Name, "WARNING: critical stream capped to fewer replicas than declared: fewer JetStream peers than declared replicas; losing a disk can lose the stream",
					"stream", s.Name, "replicas", info.Config.Replicas, "declared", s.Replicas, "peers", r.jetStreamPeers())
			default:
				// Expected on a single server, and the same for every stream: noted here, said
				// once for all of them by whoever started the runtimes (CappedStreams).
				r.noteCapped(s.Name)
				r.log.Debug("stream has fewer replicas than declared: not a cluster", "stream", s.Name, "replicas", info.Config.Replicas, "declared", s.Replicas)
			}
			if info.Cluster != nil {
				for _, p := range info.Cluster.Replicas {
					if p.Offline || !p.Current {
						r.log.Warn("stream replica not current", "stream", s.Name, "peer", p.Name, "offline", p.Offline)
					}
				}
			}
			continue
		}
		if !s.Critical {
			r.log.Warn("stream weaker than declared", "stream", s.Name, "problems", weak)
			continue
		}
		errs = append(errs, contracts.ErrStreamTooWeak.Msg("critical stream %s has %s; refusing to start (see the operations guide on stream durability)", s.Name, strings.Join(weak, "; ")))
	}
	if len(errs) == 0 {
		r.checkSync(ctx, critical)
		r.watch(specs...)
	}
	return errors.Join(errs...)
}

// weaknesses lists how have is weaker than s declares.
func (r *Runtime) weaknesses(s contracts.StreamSpec, have jetstream.StreamConfig) []string {
	var weak []string
	if s.Storage != contracts.MemoryStorage && have.Storage != jetstream.FileStorage {
		weak = append(weak, "memory storage where file storage is declared")
	}
	if want := r.replicasFor(s); have.Replicas < want {
		weak = append(weak, fmt.Sprintf("%d replicas where %d are declared", have.Replicas, want))
	}
	if (s.Retention == "" || s.Retention == contracts.LimitsRetention) && have.Retention != jetstream.LimitsPolicy {
		weak = append(weak, fmt.Sprintf("%s retention where limits is declared", have.Retention))
	}
	if s.MaxAge > 0 && have.MaxAge > 0 && have.MaxAge < s.MaxAge {
		weak = append(weak, fmt.Sprintf("max age %v where %v is declared", have.MaxAge, s.MaxAge))
	}
	if s.Duplicates > 0 && have.Duplicates < s.Duplicates {
		weak = append(weak, fmt.Sprintf("duplicate window %v where %v is declared", roundDur(have.Duplicates), s.Duplicates))
	}
	return weak
}

func roundDur(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
