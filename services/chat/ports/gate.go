package ports

import (
	"context"
	"sync"

	"github.com/moa-run/moa/contracts"
)

// Gate lets Stop wait for the requests being handled before the store is closed under them.
// Stopping the micro service stops new deliveries, but handlers already running go on in their
// own goroutines.
type Gate struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// enter admits one request, or refuses it once the gate is closed.
func (g *Gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Close refuses new requests and waits for admitted ones, or for ctx.
func (g *Gate) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// guarded runs fn inside g.
func guarded[Req, Resp any](g *Gate, fn func(context.Context, Req) (Resp, error)) func(context.Context, Req) (Resp, error) {
	return func(ctx context.Context, req Req) (Resp, error) {
		if !g.enter() {
			var zero Resp
			return zero, contracts.ErrUnavailable.Msg("the chat service is stopping")
		}
		defer g.wg.Done()
		return fn(ctx, req)
	}
}
