package bus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
)

// TestWorkersComeAndGoWithoutLosingRequests makes workers exit after 1 ms idle, so that
// requests keep arriving while workers leave: every request must still be answered, and the
// pool must be empty once the traffic stops.
func TestWorkersComeAndGoWithoutLosingRequests(t *testing.T) {
	srv, err := StartEmbedded(EmbeddedConfig{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rt, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rt.Close(context.Background(), false) }()
	spec := contracts.Service{Name: "churn", Version: "1.0.0", Major: 1}
	ep := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: spec, Name: "work"}
	svc, err := rt.AddService(spec)
	if err != nil {
		t.Fatal(err)
	}
	err = Handle(svc, ep, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		if rand.IntN(4) == 0 { // some requests take a while, so the pool grows and shrinks
			timer := time.NewTimer(time.Duration(rand.IntN(3)) * time.Millisecond)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		return contracts.Empty{}, nil
	}, workerIdleFor(time.Millisecond), MaxInFlight(4), MaxQueue(1000))
	if err != nil {
		t.Fatal(err)
	}
	c := rt.NewClientWith("churn", WithoutResilience())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := 0; i < 250; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := Call(ctx, c, ep, contracts.Empty{})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("call %d: %w", i, err)
					return
				}
				if rand.IntN(8) == 0 { // a pause long enough for idle workers to leave
					<-time.After(2 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e := svc.endpoints["work"]
	deadline := time.Now().Add(10 * time.Second)
	parked := func() int {
		e.pool.mu.Lock()
		defer e.pool.mu.Unlock()
		return len(e.pool.parked)
	}
	for e.workers.Load() != 0 || parked() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pool not empty after the traffic: %d workers, %d idle", e.workers.Load(), parked())
		}
		<-time.After(5 * time.Millisecond) // polling the pool, with a deadline
	}
	if st := e.stats(); st.Shed != 0 || st.Expired != 0 || st.InFlight != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSlowRequestDoesNotHoldUpTheNext: a request that arrives while the only busy worker is
// stuck in a slow handler waits in the queue behind it only until the queue watch gives it a
// worker of its own; it is answered while the slow one still runs.
func TestSlowRequestDoesNotHoldUpTheNext(t *testing.T) {
	srv, err := StartEmbedded(EmbeddedConfig{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rt, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rt.Close(context.Background(), false) }()
	type req struct {
		Slow bool `json:"slow"`
	}
	spec := contracts.Service{Name: "slowfast", Version: "1.0.0", Major: 1}
	ep := contracts.Endpoint[req, contracts.Empty]{Service: spec, Name: "work"}
	svc, err := rt.AddService(spec)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	err = Handle(svc, ep, func(ctx context.Context, r req) (contracts.Empty, error) {
		if r.Slow {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return contracts.Empty{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := rt.NewClientWith("slowfast", WithoutResilience())
	slow := make(chan error, 1)
	go func() {
		_, err := Call(context.Background(), c, ep, req{Slow: true})
		slow <- err
	}()
	e := svc.endpoints["work"]
	deadline := time.Now().Add(5 * time.Second)
	for e.inflight.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never started")
		}
		<-time.After(time.Millisecond) // polling the endpoint, with a deadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := Call(ctx, c, ep, req{}); err != nil {
		t.Fatalf("the quick request behind the slow one: %v", err)
	}
	select {
	case err := <-slow:
		t.Fatalf("the slow request finished first (%v): the test proved nothing", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("slow request: %v", err)
	}
}
