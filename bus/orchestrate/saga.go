package orchestrate

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Action is a step's command or compensation. It runs with ctx bounded by the step's timeout,
// the orchestrator's client, the call's idempotency key, and the saga's state, which it may
// update (to record, say, the id of a charge its compensation will refund); the state is
// persisted once the action succeeds. It returns nil once the participant has done the work
// (or had already done it: keys repeat), or the participant's error.
type Action[S any] func(ctx context.Context, c *bus.Client, key string, state *S) error

// Call returns an Action that calls ep with the request build makes from the state and the
// idempotency key, and hands the reply to record (nil: the reply is not kept). The call is
// marked idempotent (bus.Idempotent), since the key makes repeating it safe, so the client
// retries transient failures within the step's timeout.
func Call[S, Req, Resp any](ep contracts.Endpoint[Req, Resp], build func(state *S, key string) Req, record func(state *S, resp Resp)) Action[S] {
	return func(ctx context.Context, c *bus.Client, key string, state *S) error {
		resp, err := bus.Call(ctx, c, ep, build(state, key), bus.Idempotent())
		if err != nil {
			return err
		}
		if record != nil {
			record(state, resp)
		}
		return nil
	}
}

// Step is one step of a saga.
type Step[S any] struct {
	// Name identifies the step in the table and in idempotency keys: [a-z0-9_]+, unique in the
	// saga. Never rename a step that running sagas may be on.
	Name string
	// Do is the command. Required.
	Do Action[S]
	// Compensate undoes Do; nil when there is nothing to undo. It must accept a key whose Do
	// never reached the participant (see the package doc) and must be idempotent too.
	Compensate Action[S]
	// Timeout bounds each run of Do and of Compensate. Zero means DefaultStepTimeout.
	Timeout time.Duration
}

// Saga is a saga's definition: a name and its steps, in order. Its state S is persisted as
// JSON (and each action works on a JSON copy), so only what round-trips through encoding/json
// survives a transition. Steps may be appended to a definition in use; renaming, reordering or
// removing steps strands the sagas that are on them.
type Saga[S any] struct {
	// Name is the saga's type, e.g. "plan_change": [a-z0-9_]+. Instances of different sagas
	// share the table; their ids need only be unique within one saga.
	Name  string
	Steps []Step[S]
}

// DefaultStepTimeout bounds a step that declares no timeout.
const DefaultStepTimeout = 10 * time.Second

var tokenRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// validate checks a definition once, at New: a bad one is a programming error reported then,
// never a surprise in the middle of a saga.
func (s Saga[S]) validate() error {
	if !tokenRE.MatchString(s.Name) {
		return fmt.Errorf("orchestrate: saga name %q is not [a-z0-9_]+", s.Name)
	}
	if len(s.Steps) == 0 {
		return fmt.Errorf("orchestrate: saga %s has no steps", s.Name)
	}
	seen := map[string]bool{}
	for i, st := range s.Steps {
		if !tokenRE.MatchString(st.Name) {
			return fmt.Errorf("orchestrate: saga %s: step %d name %q is not [a-z0-9_]+", s.Name, i, st.Name)
		}
		if seen[st.Name] {
			return fmt.Errorf("orchestrate: saga %s: step %s is declared twice", s.Name, st.Name)
		}
		seen[st.Name] = true
		if st.Do == nil {
			return fmt.Errorf("orchestrate: saga %s: step %s has no Do", s.Name, st.Name)
		}
		if st.Timeout < 0 {
			return fmt.Errorf("orchestrate: saga %s: step %s has a negative timeout", s.Name, st.Name)
		}
	}
	return nil
}

func (st Step[S]) timeout() time.Duration {
	if st.Timeout <= 0 {
		return DefaultStepTimeout
	}
	return st.Timeout
}

// Key is the idempotency key of a step's command in one saga instance.
func Key(saga, id, step string) string { return saga + ":" + id + ":" + step }

// CompensationKey is the idempotency key of a step's compensation in one saga instance.
func CompensationKey(saga, id, step string) string { return Key(saga, id, step) + ":compensate" }

// Phase is where a saga instance is.
type Phase string

// The phases. Completed, Compensated and Failed are terminal.
const (
	Running      Phase = "running"      // running its steps forward
	Compensating Phase = "compensating" // a step failed; undoing the steps done, in reverse
	Completed    Phase = "completed"    // every step succeeded
	Compensated  Phase = "compensated"  // a step failed and every compensation succeeded
	Failed       Phase = "failed"       // a compensation failed after its retries: needs an operator (Resume)
)

// Terminal reports whether no orchestrator will touch the saga again.
func (p Phase) Terminal() bool { return p == Completed || p == Compensated || p == Failed }

// Status is a saga instance as persisted.
type Status[S any] struct {
	Saga  string
	ID    string
	Phase Phase
	// Step is the step to run next (Running), to compensate next (Compensating), whose
	// compensation failed (Failed), or "" when
	// none is left.
	Step  string
	State S
	// Err is why the saga compensated: the failing step's error, with its stable code. Nil
	// while running and when completed.
	Err *contracts.Error
	// Failure says which compensation failed and how (Failed only).
	Failure string
	// Owner is the orchestrator (Options.Owner) that holds or last held the saga's lease; on a
	// terminal saga, the one that finished it.
	Owner     string
	CreatedAt time.Time
	UpdatedAt time.Time
}
