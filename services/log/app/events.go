package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
)

// PostChange is what a post event tells the log.
type PostChange struct {
	PostID   string
	AuthorID string
	Title    string
	Live     bool // published (false: a draft again)
	Deleted  bool
}

// ApplyPost records what a post event says, once per event (the event's receipt is in ctx,
// see bus/docinbox). A deleted post stays deleted whatever comes after it (a redelivered
// older event): its views are no longer counted and it leaves the popular list.
func (a *App) ApplyPost(ctx context.Context, c PostChange) error {
	// An event that breaks the contract fails validation, which the runtime dead-letters.
	if err := contracts.ValidatePostID("post_id", c.PostID); err != nil {
		return err
	}
	return a.repo.ApplyPost(ctx, c)
}
