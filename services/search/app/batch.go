package app

import (
	"context"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/domain"
)

// Searches are recorded in batches (group commit): whoever records a search queues it and waits;
// one flush loop applies everything queued as one batch while the next batch gathers. The store
// then sees one journal insert per chunk of searches and one counter update per query of the
// batch, instead of a handful of round trips per search, which is what lets recording keep up
// with searching (issue 13: from 8 to over 1,000 events/s on the embedded store).

// MaxBatch bounds the searches applied as one batch.
const MaxBatch = 512

// batchTimeout bounds the application of one batch: the loop runs detached from the callers'
// contexts (a caller that gives up must not fail the searches of the others).
const batchTimeout = 30 * time.Second

// pending is one queued search and where its outcome goes.
type pending struct {
	s    domain.Search
	done chan result
}

type result struct {
	stored domain.Search
	err    error
}

// record queues s for the next batch and waits for its outcome. A caller that stops waiting
// (ctx done) leaves s in the batch: its redelivery or retry then finds it journaled.
func (a *App) record(ctx context.Context, s domain.Search) (domain.Search, error) {
	p := &pending{s: s, done: make(chan result, 1)}
	a.mu.Lock()
	a.queue = append(a.queue, p)
	lead := !a.running
	a.running = true
	a.mu.Unlock()
	if lead {
		go a.flushLoop(context.WithoutCancel(ctx))
	}
	select {
	case r := <-p.done:
		return r.stored, r.err
	case <-ctx.Done():
		return s, contracts.ErrCanceled.Msg("search not recorded yet: %v", context.Cause(ctx)).Wrap(ctx.Err())
	}
}

// flushLoop applies queued searches, a batch at a time, until the queue is empty.
func (a *App) flushLoop(ctx context.Context) {
	for {
		a.mu.Lock()
		if len(a.queue) == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		n := min(len(a.queue), MaxBatch)
		batch := a.queue[:n:n]
		a.queue = append([]*pending(nil), a.queue[n:]...)
		a.mu.Unlock()

		bctx, cancel := context.WithTimeout(ctx, batchTimeout)
		a.applyBatch(bctx, batch)
		cancel()
	}
}

// applyBatch applies the searches of one batch (see Repository for the steps) and answers
// every caller. A failure fails the whole batch and ends the epoch, so that no later batch can
// overwrite the markers that tell which counts of the failed one are in.
func (a *App) applyBatch(ctx context.Context, batch []*pending) {
	id, err := newID()
	if err == nil && a.epoch == "" {
		a.epoch, err = newID()
	}
	if err != nil {
		for _, p := range batch {
			p.done <- result{stored: p.s, err: err}
		}
		return
	}
	// One search id may be queued twice (a redelivery racing its original): it is applied once
	// and every caller gets the outcome.
	byID := make(map[string][]*pending, len(batch))
	var ss []domain.Search
	for _, p := range batch {
		if _, ok := byID[p.s.ID]; !ok {
			ss = append(ss, p.s)
		}
		byID[p.s.ID] = append(byID[p.s.ID], p)
	}
	js, refused, err := a.applySearches(ctx, id, ss)
	if err != nil {
		a.epoch = ""
		for _, p := range batch {
			p.done <- result{stored: p.s, err: err}
		}
		return
	}
	if len(refused) > 0 {
		// The batch stays incomplete (its refused searches are leftovers for their retries),
		// so its markers must stay as they are: the epoch ends, as on a failure.
		a.epoch = ""
	}
	for _, j := range js {
		for _, p := range byID[j.Stored.ID] {
			var err error
			if !j.Applied {
				err = refused[j.Stored.UserID]
			}
			p.done <- result{stored: j.Stored, err: err}
		}
	}
}

// applySearches runs the steps for distinct searches ss as batch id. The searches of the users
// whose history the store refused (refused, by user) failed; the batch is then not completed.
func (a *App) applySearches(ctx context.Context, id string, ss []domain.Search) (js []Journaled, refused map[string]error, err error) {
	js, err = a.repo.Journal(ctx, a.epoch, id, ss)
	if err != nil {
		return nil, nil, err
	}
	var left []Journaled
	counts := map[Count]int64{}
	byUser := map[string][]domain.Recent{}
	expired := domain.ExpiredBefore(a.now())
	applying := false
	for _, j := range js {
		if j.Applied {
			continue
		}
		applying = true
		if !j.New {
			left = append(left, j)
		}
		s := j.Stored
		byUser[s.UserID] = append(byUser[s.UserID], domain.Recent{Query: s.Query, At: s.At})
		// A search older than the retention cannot enter any window; a counter for it would
		// only wait for the janitor.
		if b := s.Bucket(); !j.Counted && !b.Before(expired) {
			counts[Count{Query: s.Query, Bucket: b}]++
		}
	}
	if !applying {
		return js, nil, nil
	}
	if len(left) > 0 {
		if err := a.repo.Adopt(ctx, a.epoch, id, left); err != nil {
			return nil, nil, err
		}
	}
	if len(counts) > 0 {
		list := make([]Count, 0, len(counts))
		for c, n := range counts {
			c.N = n
			list = append(list, c)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].Query != list[j].Query {
				return list[i].Query < list[j].Query
			}
			return list[i].Bucket.Before(list[j].Bucket)
		})
		// Stored and added in memory under one lock, so that additions are numbered in the
		// order they were stored (popular.go). A failed AddPopular may have marked some shards
		// all the same: it is numbered too, with no counts, so that a refresh reading its
		// marker knows the batches before it were seen.
		a.popular.counting.Lock()
		err := a.repo.AddPopular(ctx, a.epoch, id, list)
		if err == nil {
			a.popular.add(a.epoch, id, list)
		} else {
			a.popular.add(a.epoch, id, nil)
		}
		a.popular.counting.Unlock()
		if err != nil {
			return nil, nil, err
		}
	}
	refused, err = a.repo.TouchRecent(ctx, byUser, contracts.SearchRecentMax)
	if err != nil {
		return nil, nil, err
	}
	if len(refused) > 0 {
		return js, refused, nil
	}
	return js, nil, a.repo.Complete(ctx, id, a.now())
}

// newID returns a time-ordered unique id (UUIDv7): the janitor reads its time.
func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", contracts.ErrInternal.Wrap(err)
	}
	return id.String(), nil
}
