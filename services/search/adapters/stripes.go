package adapters

import "sync"

// stripes serialises read-modify-write updates of a history shard within this process: the
// embedded FerretDB (dev and tests) does not isolate concurrent updates of one document, and a
// batch rewrites the users' histories it read.
type stripes struct {
	mu [historyShards]sync.Mutex
}

var docLocks = &stripes{}

// lock locks history shard s and returns its unlock.
func (s *stripes) lock(shard int) func() {
	s.mu[shard].Lock()
	return s.mu[shard].Unlock
}
