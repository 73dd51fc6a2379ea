package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Options tune an orchestrator. Zero values take the defaults.
type Options struct {
	// Owner names this instance in lease_owner. Default: a random id. Two live instances must
	// never share one.
	Owner string
	// PollInterval is how often the orchestrator looks for sagas to drive that it was not told
	// about: begun by another instance, or left behind by one that died. Default 1 s.
	PollInterval time.Duration
	// LeaseMargin is added to a call's timeout to make the lease taken before the call: how
	// long after an instance dies its sagas wait before another takes them over, beyond the
	// call in flight. Default 5 s.
	LeaseMargin time.Duration
	// CompensationAttempts is how many times a compensation runs before the saga is Failed.
	// Default 5.
	CompensationAttempts int
	// CompensationBackoff is the wait after the first failed compensation attempt, doubled
	// after each next one up to 30 s. Default 500 ms.
	CompensationBackoff time.Duration
	// MaxConcurrent bounds the sagas one instance drives at once. Default 16.
	MaxConcurrent int
	// Logger receives transitions (debug), failed steps (info), lost leases and database
	// errors (warn) and failed sagas (error). Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Owner == "" {
		o.Owner = uuid.NewString()
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.LeaseMargin <= 0 {
		o.LeaseMargin = 5 * time.Second
	}
	if o.CompensationAttempts <= 0 {
		o.CompensationAttempts = 5
	}
	if o.CompensationBackoff <= 0 {
		o.CompensationBackoff = 500 * time.Millisecond
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

const maxBackoff = 30 * time.Second

// Orchestrator drives the instances of one saga. Its methods are safe for concurrent use.
// Several orchestrators of the same saga may share a database (replicas of a service): each
// instance is driven by one of them at a time.
type Orchestrator[S any] struct {
	pool   *pgxpool.Pool
	client *bus.Client
	def    Saga[S]
	opt    Options
	log    *slog.Logger

	wake chan struct{} // Begin's nudge to the loop

	mu      sync.Mutex
	cancel  context.CancelFunc // nil until Start, and after Stop
	driving map[string]bool    // ids this instance drives now
	wg      sync.WaitGroup     // the loop and the drivers
}

// New returns an orchestrator for def, calling participants with client and keeping its
// sagas in pool's moa_saga (see Migrate). It checks def and returns an error for a bad one;
// it starts nothing: call Start.
func New[S any](pool *pgxpool.Pool, client *bus.Client, def Saga[S], opts Options) (*Orchestrator[S], error) {
	if pool == nil || client == nil {
		return nil, errors.New("orchestrate: New needs a pool and a client")
	}
	if err := def.validate(); err != nil {
		return nil, err
	}
	opt := opts.withDefaults()
	return &Orchestrator[S]{
		pool: pool, client: client, def: def, opt: opt,
		log:     opt.Logger.With("saga", def.Name, "owner", opt.Owner),
		wake:    make(chan struct{}, 1),
		driving: map[string]bool{},
	}, nil
}

// checkID rejects ids that would make keys ambiguous or unreadable. The id is never part of a
// subject, only of keys and rows.
func checkID(id string) error {
	if id == "" || len(id) > 128 {
		return contracts.ErrValidation.OnField("id", "a saga id is 1 to 128 characters")
	}
	for _, r := range id {
		if r == ':' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return contracts.ErrValidation.OnField("id", "a saga id has no ':', spaces or control characters")
		}
	}
	return nil
}

// Begin records a new instance of the saga with its initial state; a running orchestrator
// (this one, or another on the same database) drives it from the first step. Begin is
// idempotent: beginning an id that exists changes nothing and returns nil, so a caller may
// repeat it after an unknown outcome. A bad id is contracts.ErrValidation.
func (o *Orchestrator[S]) Begin(ctx context.Context, id string, state S) error {
	if err := checkID(id); err != nil {
		return err
	}
	data, err := json.Marshal(state)
	if err != nil {
		return contracts.ErrValidation.OnField("state", "the saga state does not encode as JSON: %v", err)
	}
	_, err = o.pool.Exec(ctx, `INSERT INTO moa_saga (saga, id, status, step, state) VALUES ($1, $2, $3, 0, $4)
		ON CONFLICT (saga, id) DO NOTHING`, o.def.Name, id, string(Running), data)
	if err != nil {
		return contracts.ErrUnavailable.Msg("recording saga %s %s: %v", o.def.Name, id, err).Wrap(err)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Get returns the saga instance id as last persisted; contracts.ErrNotFound if there is none.
func (o *Orchestrator[S]) Get(ctx context.Context, id string) (Status[S], error) {
	var st Status[S]
	if err := checkID(id); err != nil {
		return st, err
	}
	var (
		phase              string
		step               int
		data               []byte
		code, msg, failure *string
		owner              *string
	)
	err := o.pool.QueryRow(ctx, `SELECT status, step, state, error_code, error, failure, lease_owner, created_at, updated_at
		FROM moa_saga WHERE saga = $1 AND id = $2`, o.def.Name, id).
		Scan(&phase, &step, &data, &code, &msg, &failure, &owner, &st.CreatedAt, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, contracts.ErrNotFound.Msg("no saga %s %s", o.def.Name, id)
	}
	if err != nil {
		return st, contracts.ErrUnavailable.Msg("reading saga %s %s: %v", o.def.Name, id, err).Wrap(err)
	}
	if err := json.Unmarshal(data, &st.State); err != nil {
		return st, contracts.ErrInternal.Msg("saga %s %s: stored state does not decode: %v", o.def.Name, id, err)
	}
	st.Saga, st.ID, st.Phase = o.def.Name, id, Phase(phase)
	switch {
	case st.Phase == Running && step < len(o.def.Steps):
		st.Step = o.def.Steps[step].Name
	case (st.Phase == Compensating || st.Phase == Failed) && step > 0 && step <= len(o.def.Steps):
		st.Step = o.def.Steps[step-1].Name
	}
	st.Err = decodeErr(code, msg)
	if failure != nil {
		st.Failure = *failure
	}
	if owner != nil {
		st.Owner = *owner
	}
	return st, nil
}

// Resume is the operator's way out of Failed, once the cause is fixed (the participant is
// back, the data repaired): the saga goes back to compensating from the compensation that
// failed, with fresh attempts, and a running orchestrator finishes it. A saga that is not
// Failed is contracts.ErrIllegalTransition; an unknown one contracts.ErrNotFound.
func (o *Orchestrator[S]) Resume(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	var phase string
	err := o.pool.QueryRow(ctx, `WITH old AS (SELECT status FROM moa_saga WHERE saga = $1 AND id = $2),
		upd AS (UPDATE moa_saga SET status = $3, failure = NULL, lease_owner = NULL, lease_until = NULL, updated_at = now()
			WHERE saga = $1 AND id = $2 AND status = $4 RETURNING 1)
		SELECT status FROM old`, o.def.Name, id, string(Compensating), string(Failed)).Scan(&phase)
	if errors.Is(err, pgx.ErrNoRows) {
		return contracts.ErrNotFound.Msg("no saga %s %s", o.def.Name, id)
	}
	if err != nil {
		return contracts.ErrUnavailable.Msg("resuming saga %s %s: %v", o.def.Name, id, err).Wrap(err)
	}
	if Phase(phase) != Failed {
		return contracts.ErrIllegalTransition.Msg("saga %s %s is %s, not failed", o.def.Name, id, phase)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Wait polls Get every interval until the saga reaches a terminal phase or ctx is done, and
// returns its last status (ctx's error, as contracts.ErrTimeout, if it did not finish).
func (o *Orchestrator[S]) Wait(ctx context.Context, id string, interval time.Duration) (Status[S], error) {
	t := time.NewTicker(max(interval, 10*time.Millisecond))
	defer t.Stop()
	for {
		st, err := o.Get(ctx, id)
		if err == nil && st.Phase.Terminal() {
			return st, nil
		}
		if err != nil && !errors.Is(err, contracts.ErrUnavailable) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, contracts.ErrTimeout.Msg("saga %s %s is still %s", o.def.Name, id, st.Phase)
		case <-t.C:
		}
	}
}

// Start starts driving: the sagas left unfinished (by this instance before a restart, or by
// one that died), those begun from now on, and whatever another instance abandons. It returns
// at once. The work keeps ctx's values but not its cancellation: Stop ends it. Starting a
// started orchestrator is an error; one that was stopped may start again.
func (o *Orchestrator[S]) Start(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cancel != nil {
		return errors.New("orchestrate: already started")
	}
	ctx, o.cancel = context.WithCancel(context.WithoutCancel(ctx))
	o.wg.Add(1)
	go o.loop(ctx)
	return nil
}

// Stop stops driving: calls in flight are abandoned without persisting their outcome (the
// next driver repeats them; keys make that safe), and the leases of this instance are
// released so that another instance takes its sagas over at once. It waits for the drivers
// to return, within ctx.
func (o *Orchestrator[S]) Stop(ctx context.Context) error {
	if !o.halt(ctx) {
		return ctx.Err()
	}
	_, err := o.pool.Exec(ctx, `UPDATE moa_saga SET lease_owner = NULL, lease_until = NULL
		WHERE saga = $1 AND lease_owner = $2 AND status IN ('running', 'compensating')`, o.def.Name, o.opt.Owner)
	return err
}

// halt cancels the loop and the drivers and waits for them; false if ctx ended first.
func (o *Orchestrator[S]) halt(ctx context.Context) bool {
	o.mu.Lock()
	cancel := o.cancel
	o.cancel = nil
	o.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// loop claims runnable sagas every PollInterval, and at once when Begin nudges it.
func (o *Orchestrator[S]) loop(ctx context.Context) {
	defer o.wg.Done()
	t := time.NewTicker(o.opt.PollInterval)
	defer t.Stop()
	for {
		o.claimAndDrive(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
		}
	}
}

// row is a claimed saga.
type row struct {
	id     string
	phase  Phase
	step   int
	state  []byte
	code   *string
	msg    *string
	failed *string
}

// claimLease is the lease a claim takes: enough for the longest call, renewed before each.
func (o *Orchestrator[S]) claimLease() time.Duration {
	var d time.Duration
	for _, s := range o.def.Steps {
		d = max(d, s.timeout())
	}
	return d + o.opt.LeaseMargin
}

func (o *Orchestrator[S]) claimAndDrive(ctx context.Context) {
	o.mu.Lock()
	free := o.opt.MaxConcurrent - len(o.driving)
	o.mu.Unlock()
	if free <= 0 {
		return
	}
	// SKIP LOCKED lets two instances claim at once without waiting on each other's rows;
	// the lease then keeps the row theirs after this statement's lock is gone.
	rows, err := o.pool.Query(ctx, `UPDATE moa_saga SET lease_owner = $2, lease_until = now() + $3::interval
		WHERE (saga, id) IN (
			SELECT saga, id FROM moa_saga
			WHERE saga = $1 AND status IN ('running', 'compensating')
			  AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)
			  AND NOT (id = ANY($5))
			ORDER BY updated_at LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING id, status, step, state, error_code, error, failure`,
		o.def.Name, o.opt.Owner, o.claimLease(), free, o.drivingIDs())
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("orchestrate: claiming sagas", "err", err)
		}
		return
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		var phase string
		err := r.Scan(&x.id, &phase, &x.step, &x.state, &x.code, &x.msg, &x.failed)
		x.phase = Phase(phase)
		return x, err
	})
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("orchestrate: claiming sagas", "err", err)
		}
		return
	}
	for _, r := range claimed {
		o.mu.Lock()
		o.driving[r.id] = true
		o.mu.Unlock()
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			defer func() {
				o.mu.Lock()
				delete(o.driving, r.id)
				o.mu.Unlock()
			}()
			o.drive(ctx, r)
		}()
	}
}

func (o *Orchestrator[S]) drivingIDs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ids := make([]string, 0, len(o.driving))
	for id := range o.driving {
		ids = append(ids, id)
	}
	return ids
}

// errLeaseLost says another instance drives the saga now, or the database is unreachable: in
// both cases this driver stops and leaves the row as it is.
var errLeaseLost = errors.New("orchestrate: lease lost")

// drive runs one saga from its persisted position until it is terminal, this instance stops,
// or it loses the lease.
func (o *Orchestrator[S]) drive(ctx context.Context, r row) {
	log := o.log.With("id", r.id)
	var state S
	if err := json.Unmarshal(r.state, &state); err != nil {
		// A definition whose state type changed incompatibly: nothing to run or undo safely.
		r.phase, r.failed = Failed, ptr(fmt.Sprintf("the stored state does not decode: %v", err))
		if err := o.persist(ctx, &r, nil); err != nil {
			log.Warn("orchestrate: recording an undecodable state", "err", err)
		}
		log.Error("orchestrate: saga failed", "failure", *r.failed)
		return
	}
	steps := o.def.Steps
	if r.step < 0 || r.step > len(steps) {
		// A definition that lost steps while sagas were on them: where to go on is unknowable.
		r.phase, r.failed = Failed, ptr(fmt.Sprintf("the saga is at step %d of a definition with %d steps", r.step, len(steps)))
		if err := o.persist(ctx, &r, nil); err != nil {
			log.Warn("orchestrate: recording an out-of-range step", "err", err)
		}
		log.Error("orchestrate: saga failed", "failure", *r.failed)
		return
	}
	for {
		switch r.phase {
		case Running:
			if r.step >= len(steps) {
				r.phase = Completed
				if err := o.persist(ctx, &r, &state); err != nil {
					o.abandon(ctx, log, err)
				}
				log.Debug("orchestrate: saga completed")
				return
			}
			st := steps[r.step]
			err := o.run(ctx, st.Do, Key(o.def.Name, r.id, st.Name), st.timeout(), 0, r.id, &state)
			if ctx.Err() != nil || errors.Is(err, errLeaseLost) {
				o.abandon(ctx, log, err)
				return
			}
			if err == nil {
				r.step++
			} else {
				ce := contracts.AsError(err)
				log.Info("orchestrate: step failed; compensating", "step", st.Name, "code", ce.Code, "err", ce.Message)
				r.phase, r.code, r.msg = Compensating, &ce.Code, &ce.Message
				if !definite(ce) {
					r.step++ // it may have happened: undo it too
				}
			}
		case Compensating:
			if r.step <= 0 {
				r.phase = Compensated
				if err := o.persist(ctx, &r, &state); err != nil {
					o.abandon(ctx, log, err)
				}
				log.Debug("orchestrate: saga compensated")
				return
			}
			st := steps[r.step-1]
			if st.Compensate != nil {
				err := o.compensate(ctx, st, r.id, &state)
				if ctx.Err() != nil || errors.Is(err, errLeaseLost) {
					o.abandon(ctx, log, err)
					return
				}
				if err != nil {
					r.phase = Failed
					r.failed = ptr(fmt.Sprintf("compensating step %s failed after %d attempts: %v", st.Name, o.opt.CompensationAttempts, err))
					if err := o.persist(ctx, &r, &state); err != nil {
						o.abandon(ctx, log, err)
						return
					}
					log.Error("orchestrate: saga failed; an operator must finish it", "step", st.Name, "failure", *r.failed)
					return
				}
			}
			r.step--
		default:
			return // terminal: claimed by mistake only if the row changed under us
		}
		if err := o.persist(ctx, &r, &state); err != nil {
			o.abandon(ctx, log, err)
			return
		}
	}
}

// compensate runs st's compensation until it succeeds or its attempts are spent.
func (o *Orchestrator[S]) compensate(ctx context.Context, st Step[S], id string, state *S) error {
	backoff := o.opt.CompensationBackoff
	var err error
	for attempt := 1; attempt <= o.opt.CompensationAttempts; attempt++ {
		last := attempt == o.opt.CompensationAttempts
		wait := backoff
		if last {
			wait = 0
		}
		err = o.run(ctx, st.Compensate, CompensationKey(o.def.Name, id, st.Name), st.timeout(), wait, id, state)
		if err == nil || ctx.Err() != nil || errors.Is(err, errLeaseLost) || last {
			return err
		}
		o.log.Info("orchestrate: compensation failed; retrying", "id", id, "step", st.Name, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
	return err
}

// run renews the lease for one call (its timeout, the wait after it, and the margin), then
// makes it. The state is changed only if the call succeeds.
func (o *Orchestrator[S]) run(ctx context.Context, act Action[S], key string, timeout, wait time.Duration, id string, state *S) error {
	if err := o.renew(ctx, id, timeout+wait+o.opt.LeaseMargin); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The action works on a copy: a failed call must not leave half a record in the state.
	next, err := clone(state)
	if err != nil {
		return contracts.ErrInternal.Msg("copying the saga state: %v", err)
	}
	if err := act(cctx, o.client, key, next); err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			// The step's own deadline, whatever error the action made of it.
			return contracts.ErrTimeout.Msg("%s did not finish within %v", key, timeout).Wrap(err)
		}
		return err
	}
	*state = *next
	return nil
}

func clone[S any](s *S) (*S, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var c S
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (o *Orchestrator[S]) renew(ctx context.Context, id string, lease time.Duration) error {
	tag, err := o.pool.Exec(ctx, `UPDATE moa_saga SET lease_until = now() + $4::interval
		WHERE saga = $1 AND id = $2 AND lease_owner = $3`, o.def.Name, id, o.opt.Owner, lease)
	if err != nil {
		return fmt.Errorf("%w: %v", errLeaseLost, err)
	}
	if tag.RowsAffected() == 0 {
		return errLeaseLost
	}
	return nil
}

// persist writes the saga's position after a transition, if this instance still holds the
// lease. A terminal saga gives its lease up but keeps lease_owner: who finished it.
func (o *Orchestrator[S]) persist(ctx context.Context, r *row, state *S) error {
	var data []byte
	if state != nil {
		var err error
		if data, err = json.Marshal(state); err != nil {
			return err
		}
	}
	tag, err := o.pool.Exec(ctx, `UPDATE moa_saga SET status = $4, step = $5, state = COALESCE($6, state),
			error_code = $7, error = $8, failure = $9, updated_at = now(),
			lease_until = CASE WHEN $10 THEN NULL ELSE lease_until END
		WHERE saga = $1 AND id = $2 AND lease_owner = $3`,
		o.def.Name, r.id, o.opt.Owner, string(r.phase), r.step, data, r.code, r.msg, r.failed, r.phase.Terminal())
	if err != nil {
		return fmt.Errorf("%w: %v", errLeaseLost, err)
	}
	if tag.RowsAffected() == 0 {
		return errLeaseLost
	}
	return nil
}

// abandon stops driving a saga: quietly when this instance is stopping, with a warning when
// the lease or the database went away (another instance, or this one later, carries on).
func (o *Orchestrator[S]) abandon(ctx context.Context, log *slog.Logger, err error) {
	if ctx.Err() != nil || err == nil {
		return
	}
	log.Warn("orchestrate: leaving the saga to another driver", "err", err)
}

// definite reports whether an error says the participant refused the command, so it did
// nothing; any other error leaves the outcome unknown.
func definite(e *contracts.Error) bool {
	switch e.Kind {
	case contracts.KindInvalid, contracts.KindNotFound, contracts.KindForbidden,
		contracts.KindConflict, contracts.KindUnauthenticated:
		return true
	}
	return false
}

func decodeErr(code, msg *string) *contracts.Error {
	if code == nil {
		return nil
	}
	m := ""
	if msg != nil {
		m = *msg
	}
	if e := contracts.Lookup(*code); e != nil {
		return e.Msg("%s", m)
	}
	return contracts.ErrInternal.Msg("%s (code %s)", m, *code)
}

func ptr[T any](v T) *T { return &v }
