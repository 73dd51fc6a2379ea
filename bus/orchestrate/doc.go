// Package orchestrate runs durable, orchestrated sagas: a fixed, ordered list of steps, each a
// command to another service over the bus with its own timeout and a compensation, driven by
// one orchestrator that persists the saga after every transition in PostgreSQL.
//
// A saga is declared once ([Saga], [Step], [Call]) and handed to [New]. [Orchestrator.Begin]
// records a new instance; the orchestrator runs its steps in order. If a step fails, the
// compensations of the steps already done run in reverse order, and the saga ends compensated.
// Every terminal state is kept in the table for inspection: completed, compensated, or failed
// (a compensation kept failing after its retries: the saga needs an operator, and the row says
// why).
//
// # Contract
//
//   - At least once. A step may run more than once: an orchestrator that crashes after a call
//     but before persisting its outcome is resumed (by itself after a restart, or by another
//     instance once its lease passes) from the last persisted step, and repeats that call.
//     Every command and compensation therefore receives a stable idempotency key
//     ("<saga>:<id>:<step>", and "<saga>:<id>:<step>:compensate"), and participants must
//     deduplicate on it: a repeated key returns the first outcome and changes nothing. The
//     same key may arrive twice at once (Stop releases its leases while the calls it abandoned
//     may still be running at the participant, and another instance takes over at once), so
//     the deduplication must be atomic (a unique key inserted in the same transaction as the
//     effect), not a check followed by an act.
//   - One driver at a time. Instances sharing a database claim sagas with a lease (SELECT ...
//     FOR UPDATE SKIP LOCKED, then lease_owner/lease_until), renewed before every call and
//     checked on every write; an instance that lost its lease stops driving that saga.
//   - Failures. A step whose error is definite (the participant said no: invalid, not found,
//     forbidden, conflict) did nothing, so compensation starts with the step before it. A step
//     whose outcome is unknown (timeout, unavailable, internal) may have happened, so its own
//     compensation runs too: a compensation must accept a key whose command it never saw, and
//     do nothing.
//   - A compensation is retried (Options.CompensationAttempts, with backoff); it must
//     eventually succeed, since there is nothing left to undo it with.
//
// # Orchestration or choreography
//
// The subscribe flow of services/subscription is a choreography: each service reacts to the
// previous one's events (catalog reserves a seat on subscription.requested, billing charges on
// seat.reserved, ...), nobody holds the whole flow, and a sweeper nudges the sagas that stall.
// It suits a flow whose steps are owned by services that already publish the events the next
// step needs, where adding a participant must not change the others, and where throughput
// matters more than seeing the whole flow in one place.
//
// An orchestrated saga puts the flow in one place: the order of steps, the timeouts, the
// compensations and the current state of every instance are in one definition and one row.
// Use it when the steps are commands rather than reactions (reserve, charge the difference,
// switch, release), when their order and rollback are business rules that belong together
// (a plan change), or when an operator must be able to see where an instance is and why it
// stopped. It costs a coordinator and a request-reply dependency on every participant.
package orchestrate
