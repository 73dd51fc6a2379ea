package auth_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// latencies collects per-operation durations from parallel workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, elapsed time.Duration, unit string) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), unit)
}

// BenchmarkLogin measures login throughput end to end: typed client → NATS → auth service →
// argon2id (19 MiB, t=2, p=1) + PostgreSQL (throttle upsert and reset, session insert) →
// EdDSA signing → reply. Argon2id dominates; the service runs at most 2×GOMAXPROCS hashes at
// once, so the benchmark offers 8 concurrent callers.
func BenchmarkLogin(b *testing.B) {
	h := newHarness(b, nil)
	const accounts = 8
	type cred struct{ email, pw string }
	creds := make([]cred, accounts)
	for i := range creds {
		u, pw := h.signup(contracts.RoleConsumer)
		creds[i] = cred{u.Email, pw}
	}
	var lat latencies
	var next sync.Mutex
	n := 0
	b.SetParallelism(4) // 4×GOMAXPROCS callers
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		c := creds[n%accounts]
		n++
		next.Unlock()
		for pb.Next() {
			t0 := time.Now()
			if _, err := h.Client.Auth.Login(context.Background(), c.email, c.pw); err != nil {
				b.Error(err)
				return
			}
			lat.add(time.Since(t0))
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed, "logins/s")
}

// BenchmarkArgon2id is one password hash with the production parameters, on one goroutine.
func BenchmarkArgon2id(b *testing.B) {
	for b.Loop() {
		if _, err := domain.HashPassword(domain.DefaultArgon2, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is what every other service pays per request to authenticate: local EdDSA
// verification with cached keys (no network).
func BenchmarkVerify(b *testing.B) {
	h := newHarness(b, nil)
	u, pw := h.signup(contracts.RoleSeller)
	tok := h.login(u.Email, pw).AccessToken
	v := authn.NewVerifier(h.Runtime.Client())
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	var lat latencies
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
			lat.add(time.Since(t0))
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed, "verifies/s")
}
