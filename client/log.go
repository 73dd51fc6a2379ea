package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// LogClient calls the blog's visit log. Every call is public: a view is counted for the
// signed-in user whose token is on ctx, or for an anonymous caller under the visitor id it
// passes.
type LogClient struct{ c *bus.Client }

// RecordView records a view of a published post (see contracts.RecordViewRequest).
func (c *LogClient) RecordView(ctx context.Context, req contracts.RecordViewRequest) (contracts.RecordViewResponse, error) {
	return bus.Call(ctx, c.c, contracts.LogRecordView, req)
}

// PostStats returns a post's views in total and per day, and its top referrers.
func (c *LogClient) PostStats(ctx context.Context, postID string) (contracts.PostStats, error) {
	return bus.Call(ctx, c.c, contracts.LogPostStats, contracts.PostStatsRequest{PostID: postID})
}

// PopularNow returns the posts viewed most over the sliding window.
func (c *LogClient) PopularNow(ctx context.Context, req contracts.PopularNowRequest) (contracts.PopularNowResponse, error) {
	return bus.Call(ctx, c.c, contracts.LogPopularNow, req)
}
