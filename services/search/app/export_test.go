package app

import (
	"context"

	"github.com/moa-run/moa/services/search/domain"
)

// ApplyBatch applies ss as one batch, as the flush loop does with what it found queued, and
// returns each search's outcome in order (tests: it makes a batch's content deterministic).
func (a *App) ApplyBatch(ctx context.Context, ss []domain.Search) []error {
	batch := make([]*pending, len(ss))
	for i, s := range ss {
		batch[i] = &pending{s: s, done: make(chan result, 1)}
	}
	a.applyBatch(ctx, batch)
	errs := make([]error, len(ss))
	for i, p := range batch {
		errs[i] = (<-p.done).err
	}
	return errs
}
