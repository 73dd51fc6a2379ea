package orchestrate

import "context"

// Crash stops o the way a killed process stops: its calls in flight are abandoned and its
// leases are kept, so another instance takes its sagas over only once they pass.
func (o *Orchestrator[S]) Crash() { o.halt(context.Background()) }
