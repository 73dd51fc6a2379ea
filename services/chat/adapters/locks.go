package adapters

import (
	"hash/maphash"
	"slices"
	"sync"
)

// docLocks serialises, within this process, the updates of one room document. FerretDB 1.24
// on SQLite applies an update as read, modify, write without isolation between connections,
// so two concurrent updates of one document can lose one: 8 goroutines doing 50 $inc each on
// one counter ended at 51, not 400, and a conditional $set lost the newest value the same way.
// MongoDB applies every single-document update atomically; there the locks cost a little
// parallelism within one room and nothing across rooms. Several instances of the service on
// one FerretDB remain exposed, which is one reason FerretDB is for development and tests only.
//
// What is still serialised, and why: a room document is updated by its writer (recording
// messages, which only one goroutine does per room) and by AdvanceRead (a member marking
// read); the two can meet on one room, and on FerretDB one would undo the other's $max. Sends
// take no lock: they only insert.
type docLocks struct {
	seed    maphash.Seed
	stripes [64]sync.Mutex
}

func newDocLocks() *docLocks { return &docLocks{seed: maphash.MakeSeed()} }

// lock locks the stripes of ids, in stripe order so that two callers locking overlapping sets
// cannot deadlock, and returns the function that unlocks them.
func (l *docLocks) lock(ids ...string) (unlock func()) {
	idx := make([]int, 0, len(ids))
	for _, id := range ids {
		idx = append(idx, int(maphash.String(l.seed, id)%uint64(len(l.stripes))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		l.stripes[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(idx) {
			l.stripes[i].Unlock()
		}
	}
}
