package app

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/domain"
)

// The popular list is served from memory. Popular searches change slowly, and a list up to a
// second old is as good to a user as a fresh one; reading it from the store on every request
// instead is a read of every counter shard per call, which is what kept the popular p99 over
// 20 ms while searches were being recorded (issue 13). So:
//
//   - a window's sums are read from the store at most once per popularRefresh while asked for,
//     in the background: a reader gets the sums in memory as long as they are younger than
//     popularTTL, and waits for the refresh only past that (or on the first read);
//   - this instance's own counts are added to the sums in memory as each batch counts them,
//     so the instance reads its own writes at once. The refresh reads the store without
//     holding batches back (a slow read must not slow recording): each addition in memory is
//     numbered and logged with its batch; a refresh notes the number when its read starts and,
//     after it, re-applies the additions made since that the read did not see. Which ones it
//     saw it knows exactly from the marker each counter shard holds, read with its sums: the
//     last batch of the epoch counted into it. So a refresh neither misses nor doubles a count
//     of this instance.
//
// Hence the staleness: counts of other instances appear within popularTTL (one second, which
// users accept for a popular list); this instance's own at once.
const (
	popularRefresh = 500 * time.Millisecond
	popularTTL     = time.Second
	// popularIdle is how long a window nobody asks for stays in memory.
	popularIdle = time.Minute
	// refreshTimeout bounds one refresh, which runs detached from the reader that started it.
	refreshTimeout = 10 * time.Second
)

// popularCache holds the sums of the windows asked for recently, by window start.
type popularCache struct {
	repo Repository
	// counting is held across a batch's AddPopular and the addition of its counts in memory,
	// so that additions are numbered in the order their batches counted.
	counting sync.Mutex

	mu      sync.Mutex // guards the fields below and every entry's fields
	entries map[int64]*popularEntry
	seq     uint64                   // number of the last addition
	log     []addition               // additions a running refresh may not have seen, oldest first
	reading map[*popularEntry]uint64 // running refreshes: seq when each read started
}

// addition is one batch's counts added in memory.
type addition struct {
	seq          uint64
	epoch, batch string
	counts       []Count
}

type popularEntry struct {
	since      time.Time
	at         time.Time        // when the read of sums began; zero before the first
	used       time.Time        // when last asked for
	sums       map[string]int64 // count per query in the window
	top        []domain.Popular // sums sorted, most counted first, ties by query; nil: sort again
	refreshing chan struct{}    // non-nil while a refresh runs; closed when it ends
	err        error            // of the last refresh
	// gen counts the refreshes that succeeded: a reader that waited on one returns its result
	// whatever its age (a store read longer than popularTTL must not send it round again).
	gen uint64
}

func newPopularCache(repo Repository) *popularCache {
	return &popularCache{repo: repo, entries: map[int64]*popularEntry{}, reading: map[*popularEntry]uint64{}}
}

// get returns the sums of the window starting at since, sorted; the caller must not modify them.
func (c *popularCache) get(ctx context.Context, since time.Time) ([]domain.Popular, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := since.Unix()
	e := c.entries[key]
	now := time.Now()
	if e == nil {
		c.evict(now)
		e = &popularEntry{since: since}
		c.entries[key] = e
	}
	e.used = now
	for {
		loaded := !e.at.IsZero()
		age := time.Since(e.at)
		if loaded && age < popularRefresh {
			return e.sorted(), nil
		}
		if e.refreshing == nil {
			e.refreshing = make(chan struct{})
			go c.refresh(e)
		}
		if loaded && age < popularTTL {
			return e.sorted(), nil
		}
		ch, gen := e.refreshing, e.gen
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			c.mu.Lock()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, contracts.ErrTimeout.Msg("popular searches not read in time").Wrap(ctx.Err())
			}
			return nil, contracts.ErrCanceled.Msg("popular searches: %v", context.Cause(ctx)).Wrap(ctx.Err())
		}
		c.mu.Lock()
		if e.gen != gen {
			return e.sorted(), nil
		}
		if e.err != nil && (e.at.IsZero() || time.Since(e.at) >= popularTTL) {
			return nil, e.err
		}
	}
}

// refresh reads e's sums from the store and installs them, with the additions made since the
// read started that it did not see.
func (c *popularCache) refresh(e *popularEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	c.mu.Lock()
	from := c.seq
	c.reading[e] = from
	c.mu.Unlock()
	start := time.Now()
	read, err := c.repo.PopularMarked(ctx, e.since)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.reading, e)
	e.err = err
	if err == nil {
		e.at, e.top = start, nil
		e.gen++
		e.sums = make(map[string]int64, len(read.Top))
		for _, p := range read.Top {
			e.sums[p.Query] = p.Count
		}
		// Batches are numbered in the order they counted, and each marks the shards it counts
		// into in the same update: the read saw an addition iff the marker it read for the
		// query's shard is that batch or a later one.
		seqOf := make(map[string]uint64, len(c.log))
		for _, a := range c.log {
			if a.seq > from {
				seqOf[a.epoch+"/"+a.batch] = a.seq
			}
		}
		for _, a := range c.log {
			if a.seq <= from {
				continue
			}
			for _, n := range a.counts {
				if n.Bucket.Before(e.since) {
					continue
				}
				if seen := read.Seen(n.Query, a.epoch); seen != "" && seqOf[a.epoch+"/"+seen] >= a.seq {
					continue
				}
				e.sums[n.Query] += n.N
			}
		}
	}
	c.trim()
	close(e.refreshing)
	e.refreshing = nil
}

// trim drops the logged additions no running refresh needs. The caller holds mu.
func (c *popularCache) trim() {
	keep := c.seq
	for _, from := range c.reading {
		keep = min(keep, from)
	}
	i := 0
	for i < len(c.log) && c.log[i].seq <= keep {
		i++
	}
	c.log = append(c.log[:0:0], c.log[i:]...)
}

// add puts the counts of a batch of epoch, just stored, into the sums in memory. The caller
// holds counting.
func (c *popularCache) add(epoch, batch string, counts []Count) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if len(c.reading) > 0 {
		c.log = append(c.log, addition{seq: c.seq, epoch: epoch, batch: batch, counts: counts})
	}
	for _, e := range c.entries {
		if e.sums == nil {
			continue
		}
		for _, n := range counts {
			if !n.Bucket.Before(e.since) {
				e.sums[n.Query] += n.N
				e.top = nil
			}
		}
	}
}

// evict forgets the windows nobody asked for in popularIdle (the window start moves every hour).
func (c *popularCache) evict(now time.Time) {
	for k, e := range c.entries {
		if e.refreshing == nil && now.Sub(e.used) > popularIdle {
			delete(c.entries, k)
		}
	}
}

// sorted returns e's sums in popular order, sorting them again only after counts were added.
func (e *popularEntry) sorted() []domain.Popular {
	if e.top == nil {
		top := make([]domain.Popular, 0, len(e.sums))
		for q, n := range e.sums {
			if n > 0 {
				top = append(top, domain.Popular{Query: q, Count: n})
			}
		}
		sort.Slice(top, func(i, j int) bool {
			if top[i].Count != top[j].Count {
				return top[i].Count > top[j].Count
			}
			return top[i].Query < top[j].Query
		})
		e.top = top
	}
	return e.top
}

// firstWithPrefix copies the first limit entries of top whose query starts with prefix.
func firstWithPrefix(top []domain.Popular, prefix string, limit int) []domain.Popular {
	out := make([]domain.Popular, 0, min(limit, len(top)))
	for _, p := range top {
		if len(out) == limit {
			break
		}
		if strings.HasPrefix(p.Query, prefix) {
			out = append(out, p)
		}
	}
	return out
}
