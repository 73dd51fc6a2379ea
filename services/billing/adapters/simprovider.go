package adapters

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/services/billing/app"
	"github.com/moa-run/moa/services/billing/domain"
)

// SimConfig configures the simulated provider.
type SimConfig struct {
	// DeclineRate is the share of charges declined (0..1). Whether a charge is declined is a
	// function of the seed and its idempotency key, so a test knows in advance and a lookup
	// agrees with the charge.
	DeclineRate float64
	// TimeoutRate is the share of calls that time out with an unknown outcome (0..1). Half of
	// them are recorded before the "timeout" (the provider charged, the answer was lost), half
	// are not (the request was lost): a lookup tells which.
	TimeoutRate float64
	// LateRate is the share of calls that time out unrecorded and land LateDelay later: a
	// lookup right after the timeout finds nothing, yet the request is still on its way, as a
	// real gateway's can be. The provider is idempotent per key, so whichever of a late call
	// and a resend under the same key lands first is the one record; the other is answered
	// with it.
	LateRate float64
	// LateDelay is how long after its timeout a late call lands (default 2s).
	LateDelay time.Duration
	// Latency is how long every call takes.
	Latency time.Duration
	// Seed makes declines and timeouts reproducible.
	Seed uint64
}

// ErrSimTimeout is the simulated provider's ambiguous answer.
var ErrSimTimeout = errors.New("simulated provider: timeout, outcome unknown")

// DefaultSimLateDelay is the default of SimConfig.LateDelay.
const DefaultSimLateDelay = 2 * time.Second

// SimProvider is a payment provider with its own ledger (the sim_provider_ledger table, written
// outside billing's transactions, as an outside system would be). It is idempotent per key: a
// request under a key it already has is answered with the first record and never recorded (or
// charged) again. It is where a real gateway's adapter would go instead.
type SimProvider struct {
	pool *pgxpool.Pool
	cfg  SimConfig
	mu   sync.Mutex
	rnd  *rand.Rand
}

var _ app.Provider = (*SimProvider)(nil)

// NewSimProvider returns the simulated provider keeping its ledger in pool's database.
func NewSimProvider(pool *pgxpool.Pool, cfg SimConfig) *SimProvider {
	if cfg.LateDelay <= 0 {
		cfg.LateDelay = DefaultSimLateDelay
	}
	return &SimProvider{pool: pool, cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))}
}

// Declines reports whether the provider declines the charge with this idempotency key.
func (s *SimProvider) Declines(key string) bool { return Declines(s.cfg, key) }

// Declines reports whether a provider configured with cfg declines the charge under key.
func Declines(cfg SimConfig, key string) bool {
	if cfg.DeclineRate <= 0 {
		return false
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(strconv.FormatUint(cfg.Seed, 10) + "/" + key))
	return float64(h.Sum64()>>11)/float64(1<<53) < cfg.DeclineRate
}

// Charge takes money, or declines.
func (s *SimProvider) Charge(ctx context.Context, key string, amount app.Money) (app.Result, error) {
	r := app.Result{Succeeded: !s.Declines(key)}
	if !r.Succeeded {
		r.FailureCode = domain.FailDeclined
	}
	return s.call(ctx, key, "charge", amount, r)
}

// Refund gives money back; the simulated provider never refuses one.
func (s *SimProvider) Refund(ctx context.Context, key, _ string, amount app.Money) (app.Result, error) {
	return s.call(ctx, key, "refund", amount, app.Result{Succeeded: true})
}

func (s *SimProvider) call(ctx context.Context, key, kind string, amount app.Money, r app.Result) (app.Result, error) {
	if s.cfg.Latency > 0 {
		t := time.NewTimer(s.cfg.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return app.Result{}, ctx.Err()
		}
	}
	timeout, recorded, late := s.fate()
	r.Ref = "sim_" + kind + "_" + uuid.NewString()
	if late {
		// The request is still travelling: it lands after the caller has given up waiting.
		time.AfterFunc(s.cfg.LateDelay, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = s.record(ctx, key, kind, amount, r) // a pool closed meanwhile: the request was lost
		})
		return app.Result{}, ErrSimTimeout
	}
	if timeout && !recorded {
		return app.Result{}, ErrSimTimeout
	}
	r, err := s.record(ctx, key, kind, amount, r)
	if err != nil {
		// The ledger write may have committed before the error: as ambiguous as a timeout.
		return app.Result{}, fmt.Errorf("simulated provider: %w", err)
	}
	if timeout {
		return app.Result{}, ErrSimTimeout
	}
	return r, nil
}

// record books r under key unless the key has a record already, and returns the record the
// key has: the provider's idempotency.
func (s *SimProvider) record(ctx context.Context, key, kind string, amount app.Money, r app.Result) (app.Result, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO sim_provider_ledger (idempotency_key, kind, amount_minor, currency, succeeded, failure_code, ref)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING`,
		key, kind, amount.Minor, amount.Currency, r.Succeeded, r.FailureCode, r.Ref)
	if err != nil {
		return app.Result{}, err
	}
	if tag.RowsAffected() == 1 {
		return r, nil
	}
	first, found, err := s.Lookup(ctx, key)
	if err == nil && !found {
		err = errors.New("idempotency key conflict without a record")
	}
	return first, err
}

// Void closes key with a failed record (code cancelled) unless it holds one already, and
// returns the key's record: a late call under it then books nothing.
func (s *SimProvider) Void(ctx context.Context, key string, amount app.Money) (app.Result, error) {
	r, err := s.record(ctx, key, "charge", amount, app.Result{FailureCode: domain.FailCancelled, Ref: "sim_void_" + uuid.NewString()})
	if err != nil {
		return app.Result{}, fmt.Errorf("simulated provider: %w", err)
	}
	return r, nil
}

// Lookup returns the record under key.
func (s *SimProvider) Lookup(ctx context.Context, key string) (app.Result, bool, error) {
	var r app.Result
	err := s.pool.QueryRow(ctx, `SELECT succeeded, failure_code, ref FROM sim_provider_ledger WHERE idempotency_key = $1`, key).
		Scan(&r.Succeeded, &r.FailureCode, &r.Ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return app.Result{}, false, nil
	}
	if err != nil {
		return app.Result{}, false, fmt.Errorf("simulated provider: %w", err)
	}
	return r, true, nil
}

// fate draws what happens to a call: a timeout (recorded before it or not), or a late landing.
func (s *SimProvider) fate() (timeout, recorded, late bool) {
	if s.cfg.TimeoutRate <= 0 && s.cfg.LateRate <= 0 {
		return false, false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.TimeoutRate > 0 {
		timeout, recorded = s.rnd.Float64() < s.cfg.TimeoutRate, s.rnd.IntN(2) == 0
	}
	if !timeout && s.cfg.LateRate > 0 {
		late = s.rnd.Float64() < s.cfg.LateRate
	}
	return timeout, recorded, late
}
