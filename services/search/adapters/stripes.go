package adapters

import (
	"hash/maphash"
	"slices"
	"sync"
)

// stripes serialises read-modify-write updates of one document within this process: the
// embedded FerretDB (dev and tests) does not isolate concurrent updates of one document, and a
// history is rewritten whole. Striped rather than per key so memory stays bounded however many
// users there are.
type stripes struct {
	seed maphash.Seed
	mu   [64]sync.Mutex
}

var docLocks = &stripes{seed: maphash.MakeSeed()}

// lockAll locks the stripes of ids, in stripe order (so that two callers cannot deadlock), and
// returns the unlock.
func (s *stripes) lockAll(ids []string) func() {
	idx := make([]int, 0, len(ids))
	for _, id := range ids {
		idx = append(idx, int(maphash.String(s.seed, id)%uint64(len(s.mu))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.mu[i].Lock()
	}
	return func() {
		for _, i := range idx {
			s.mu[i].Unlock()
		}
	}
}
