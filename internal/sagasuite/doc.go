// Package sagasuite proves the subscription saga end to end: the catalog, subscription and
// billing services on a real nats-server and real PostgreSQL, first in one process (the
// behaviour tests and the benchmark against a one-transaction monolith), then as separate
// processes under faults (billing killed and restarted, nats-server and PostgreSQL restarted,
// a consumer paused past its ack wait, duplicate, late and poison events), after which every
// invariant of the saga is checked and printed.
//
// It has no non-test code: everything is in its _test.go files.
package sagasuite
