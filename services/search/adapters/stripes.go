package adapters

import "sync"

// stripes serialises read-modify-write updates of a history shard within this process: a batch
// rewrites the users' histories it read, and a delete or clear in between would be lost. The
// store isolates each single update (MongoDB, and internal/docstore's isolator for the embedded
// FerretDB), not a read and the write after it; instances sharing a store are not covered.
type stripes struct {
	mu [historyShards]sync.Mutex
}

var docLocks = &stripes{}

// lock locks history shard s and returns its unlock.
func (s *stripes) lock(shard int) func() {
	s.mu[shard].Lock()
	return s.mu[shard].Unlock
}
