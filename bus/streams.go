package bus

import (
	"context"
	"errors"
	"fmt"

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

// replicasFor caps the declared replica count at what the connected deployment has: a single
// server (no cluster name) can only hold R1.
func (r *Runtime) replicasFor(s contracts.StreamSpec) int {
	n := s.Replicas
	if n < 1 {
		n = 1
	}
	if r.nc.ConnectedClusterName() == "" {
		return 1
	}
	return n
}

// EnsureStreams creates each stream, or updates it to the declared config. It is idempotent
// and safe to run from every instance at start.
func (r *Runtime) EnsureStreams(ctx context.Context, specs ...contracts.StreamSpec) error {
	for _, s := range specs {
		cfg := StreamConfig(s, r.replicasFor(s))
		if _, err := r.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: ensure stream %s: %w", s.Name, err)
		}
	}
	return nil
}

// CheckDurability compares the streams on the server with their declarations and returns
// contracts.ErrStreamTooWeak for a critical stream that is weaker: memory storage where file
// was declared, or fewer replicas than declared in a cluster. Non-critical streams and the
// single-server replica cap are only logged. Services call it at start and refuse to run.
func (r *Runtime) CheckDurability(ctx context.Context, specs ...contracts.StreamSpec) error {
	var errs []error
	for _, s := range specs {
		st, err := r.js.Stream(ctx, s.Name)
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				errs = append(errs, contracts.ErrStreamTooWeak.Msg("stream %s does not exist", s.Name))
				continue
			}
			return fmt.Errorf("bus: stream %s: %w", s.Name, err)
		}
		cfg := st.CachedInfo().Config
		var weak []string
		if s.Storage != contracts.MemoryStorage && cfg.Storage != jetstream.FileStorage {
			weak = append(weak, "memory storage where file storage is declared")
		}
		if want := r.replicasFor(s); cfg.Replicas < want {
			weak = append(weak, fmt.Sprintf("%d replicas where %d are declared", cfg.Replicas, want))
		}
		if len(weak) == 0 {
			if cfg.Replicas < s.Replicas {
				r.log.Info("stream has fewer replicas than declared: not a cluster", "stream", s.Name, "replicas", cfg.Replicas, "declared", s.Replicas)
			}
			continue
		}
		if !s.Critical {
			r.log.Warn("stream weaker than declared", "stream", s.Name, "problems", weak)
			continue
		}
		errs = append(errs, contracts.ErrStreamTooWeak.Msg("critical stream %s has %v", s.Name, weak))
	}
	return errors.Join(errs...)
}
