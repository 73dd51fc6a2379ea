package adapters

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/moa-run/moa/services/payout/app"
)

// SimBank is the built-in simulated bank: deterministic, and idempotent by payout id like a
// real transfer API keyed by an idempotency key. A transfer is rejected when the FNV hash of
// its payout id falls under FailPercent, or when its seller's account is closed (SetClosed); the same payout id
// always gets the same answer, so a retried transfer never pays twice nor changes its mind.
type SimBank struct {
	FailPercent int
	reject      map[string]bool // seller ids whose account is closed
	// Outage makes every transfer fail as a bank that does not answer: the payouts stay
	// pending and are sent again later (with the same payout id).
	Outage atomic.Bool

	mu   sync.Mutex
	done map[string]string // payout id → bank reference
}

var _ app.Bank = (*SimBank)(nil)

// Transfer pays t, or returns app.ErrRejected.
func (b *SimBank) Transfer(_ context.Context, t app.Transfer) (string, error) {
	if b.Outage.Load() {
		return "", errors.New("simulated bank: no answer")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ref, ok := b.done[t.PayoutID]; ok {
		return ref, nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.PayoutID))
	if b.reject[t.SellerID] || int(h.Sum32()%100) < b.FailPercent {
		return "", fmt.Errorf("%w: account_closed", app.ErrRejected)
	}
	if b.done == nil {
		b.done = map[string]string{}
	}
	ref := fmt.Sprintf("sim-%08x", h.Sum32())
	b.done[t.PayoutID] = ref
	return ref, nil
}

// SetClosed closes or reopens seller's account: the transfers to a closed one are rejected.
func (b *SimBank) SetClosed(seller string, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reject == nil {
		b.reject = map[string]bool{}
	}
	b.reject[seller] = closed
}
