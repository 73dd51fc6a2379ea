package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// SearchClient calls the search service. Every call except Popular acts for the end user whose
// access token ctx carries (bus.WithAuthToken); Suggest works without one.
type SearchClient struct{ c *bus.Client }

// Record records a search of the caller and returns the query as stored (normalised).
func (c *SearchClient) Record(ctx context.Context, query string) (contracts.SearchRecordResponse, error) {
	return bus.Call(ctx, c.c, contracts.SearchRecord, contracts.SearchRecordRequest{Query: query})
}

// Recent returns the caller's recent searches, newest first; limit 0 means all of them
// (at most contracts.SearchRecentMax).
func (c *SearchClient) Recent(ctx context.Context, limit int) ([]contracts.RecentSearch, error) {
	resp, err := bus.Call(ctx, c.c, contracts.SearchRecent, contracts.SearchRecentRequest{Limit: limit})
	return resp.Items, err
}

// DeleteRecent removes query from the caller's recent searches and reports whether it was there.
func (c *SearchClient) DeleteRecent(ctx context.Context, query string) (bool, error) {
	resp, err := bus.Call(ctx, c.c, contracts.SearchDeleteRecent, contracts.SearchDeleteRecentRequest{Query: query})
	return resp.Deleted, err
}

// ClearRecent removes all of the caller's recent searches and returns how many there were.
func (c *SearchClient) ClearRecent(ctx context.Context) (int64, error) {
	resp, err := bus.Call(ctx, c.c, contracts.SearchClearRecent, contracts.Empty{})
	return resp.Deleted, err
}

// Popular returns the most searched queries; zero fields take the service defaults.
func (c *SearchClient) Popular(ctx context.Context, req contracts.SearchPopularRequest) (contracts.SearchPopularResponse, error) {
	return bus.Call(ctx, c.c, contracts.SearchPopular, req)
}

// Suggest returns queries starting with prefix: the caller's own recent ones first (when ctx
// carries a token), then popular ones. limit 0 means contracts.SearchSuggestDefault.
func (c *SearchClient) Suggest(ctx context.Context, prefix string, limit int) ([]contracts.Suggestion, error) {
	resp, err := bus.Call(ctx, c.c, contracts.SearchSuggest, contracts.SearchSuggestRequest{Prefix: prefix, Limit: limit})
	return resp.Items, err
}
