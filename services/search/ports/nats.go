// Package ports connects the search history to the bus: its endpoints (search.v1.*) and its
// consumer of the catalog's search events.
package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/app"
	"github.com/moa-run/moa/services/search/domain"
)

// Verifier is what the bus needs from client/authn to check the access tokens of requests.
type Verifier = bus.TokenVerifier

var _ Verifier = (*authn.Verifier)(nil)

// endpoints holds what the handlers share.
type endpoints struct {
	app *app.App
}

// RegisterEndpoints adds every search endpoint to svc. Who may call what is declared in
// contracts and checked by the bus. The user of record, recent, delete_recent and
// clear_recent is the one of the verified token: any signed-in role has a history, and nobody
// can name another user.
func RegisterEndpoints(svc *bus.Service, a *app.App, auth Verifier) error {
	svc.UseVerifier(auth)
	e := endpoints{app: a}
	for _, err := range []error{
		bus.Handle(svc, contracts.SearchRecord, e.record),
		bus.Handle(svc, contracts.SearchRecent, e.recent),
		bus.Handle(svc, contracts.SearchDeleteRecent, e.deleteRecent),
		bus.Handle(svc, contracts.SearchClearRecent, e.clearRecent),
		bus.Handle(svc, contracts.SearchPopular, e.popular),
		bus.Handle(svc, contracts.SearchSuggest, e.suggest),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func (e endpoints) record(ctx context.Context, req contracts.SearchRecordRequest) (contracts.SearchRecordResponse, error) {
	p, _ := bus.Caller(ctx)
	s, err := e.app.RecordCall(ctx, p.UserID, req.Query)
	if err != nil {
		return contracts.SearchRecordResponse{}, err
	}
	return contracts.SearchRecordResponse{Query: s.Query, At: s.At}, nil
}

func (e endpoints) recent(ctx context.Context, req contracts.SearchRecentRequest) (contracts.SearchRecentResponse, error) {
	p, _ := bus.Caller(ctx)
	items, err := e.app.Recent(ctx, p.UserID, req.Limit)
	if err != nil {
		return contracts.SearchRecentResponse{}, err
	}
	out := contracts.SearchRecentResponse{Items: make([]contracts.RecentSearch, len(items))}
	for i, r := range items {
		out.Items[i] = contracts.RecentSearch{Query: r.Query, At: r.At}
	}
	return out, nil
}

func (e endpoints) deleteRecent(ctx context.Context, req contracts.SearchDeleteRecentRequest) (contracts.SearchDeleteRecentResponse, error) {
	p, _ := bus.Caller(ctx)
	ok, err := e.app.DeleteRecent(ctx, p.UserID, req.Query)
	return contracts.SearchDeleteRecentResponse{Deleted: ok}, err
}

func (e endpoints) clearRecent(ctx context.Context, _ contracts.Empty) (contracts.SearchClearRecentResponse, error) {
	p, _ := bus.Caller(ctx)
	n, err := e.app.ClearRecent(ctx, p.UserID)
	return contracts.SearchClearRecentResponse{Deleted: n}, err
}

// popular is public: it shows what many people searched, never who.
func (e endpoints) popular(ctx context.Context, req contracts.SearchPopularRequest) (contracts.SearchPopularResponse, error) {
	top, since, err := e.app.Popular(ctx, req.WindowHours, req.Limit)
	if err != nil {
		return contracts.SearchPopularResponse{}, err
	}
	out := contracts.SearchPopularResponse{Items: make([]contracts.PopularSearch, len(top)), Since: since}
	for i, p := range top {
		out.Items[i] = contracts.PopularSearch{Query: p.Query, Count: p.Count}
	}
	return out, nil
}

// suggest works for anonymous callers too. A token that is present must verify, though (the
// bus checks it, see contracts.SearchSuggest): a caller with an expired token gets told so
// (and can refresh) instead of silently losing its own suggestions.
func (e endpoints) suggest(ctx context.Context, req contracts.SearchSuggestRequest) (contracts.SearchSuggestResponse, error) {
	p, _ := bus.Caller(ctx) // zero for anonymous callers
	items, err := e.app.Suggest(ctx, p.UserID, req.Prefix, req.Limit)
	if err != nil {
		return contracts.SearchSuggestResponse{}, err
	}
	return contracts.SearchSuggestResponse{Items: suggestions(items)}, nil
}

func suggestions(items []domain.Suggestion) []contracts.Suggestion {
	out := make([]contracts.Suggestion, len(items))
	for i, s := range items {
		out[i] = contracts.Suggestion{Query: s.Query, Source: s.Source, Count: s.Count}
	}
	return out
}
