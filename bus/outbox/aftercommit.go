package outbox

import (
	"context"
	"log/slog"
	"runtime/debug"
)

// AfterCommit runs fn once the transaction that ctx's work is in has committed: the inbox's
// (for a batched inbox, the batch's, and only if this message's savepoint was kept) or
// [Transact]'s. If that transaction rolls back, fn never runs. It is for effects outside the
// database that must follow the commit, not precede it: a business metric counted in a
// handler that later fails, or whose commit fails, would count an event twice once it is
// redelivered. Outside a Transact or inbox transaction there is nothing to wait for: fn runs at
// once. fn runs on the committing goroutine, so it must be quick and must not block.
func AfterCommit(ctx context.Context, fn func()) {
	if l, ok := ctx.Value(afterKey{}).(*afterList); ok {
		l.fns = append(l.fns, fn)
		return
	}
	fn()
}

type afterKey struct{}

// afterList is the callbacks of one transaction (or of one message's savepoint in a batch),
// used by the one goroutine that runs it.
type afterList struct{ fns []func() }

// withAfter returns ctx with a new list for the transaction about to run in it.
func withAfter(ctx context.Context) (context.Context, *afterList) {
	l := &afterList{}
	return context.WithValue(ctx, afterKey{}, l), l
}

// run calls the callbacks in the order they were added, once. A callback that panics is
// logged and the others still run: the transaction has committed, and a batch's commit runs
// outside the handler's Recover.
func (l *afterList) run() {
	fns := l.fns
	l.fns = nil
	for _, fn := range fns {
		func() {
			defer func() {
				if p := recover(); p != nil {
					slog.Error("outbox: an AfterCommit callback panicked", "panic", p, "stack", string(debug.Stack()))
				}
			}()
			fn()
		}()
	}
}
