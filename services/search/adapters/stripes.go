package adapters

import (
	"hash/maphash"
	"sync"
)

// stripes serialises read-modify-write updates of one document within this process. MongoDB
// applies $max atomically; the embedded FerretDB (dev and tests) does not isolate concurrent
// updates of one document, so two racing recounts could store the smaller count. Striped
// rather than per key so memory stays bounded however many queries there are.
type stripes struct {
	seed maphash.Seed
	mu   [64]sync.Mutex
}

var docLocks = &stripes{seed: maphash.MakeSeed()}

// lock locks the stripe of id and returns its unlock.
func (s *stripes) lock(id string) func() {
	m := &s.mu[maphash.String(s.seed, id)%uint64(len(s.mu))]
	m.Lock()
	return m.Unlock
}
