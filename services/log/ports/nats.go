// Package ports connects the visit log to the bus: its endpoints (log.v1.*) and its consumer
// of the post service's events.
package ports

import (
	"context"
	"strings"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/app"
	"github.com/moa-run/moa/services/log/domain"
)

// Verifier is what the bus needs from client/authn to check the access tokens of requests.
type Verifier = bus.TokenVerifier

var _ Verifier = (*authn.Verifier)(nil)

type endpoints struct{ app *app.App }

// RegisterEndpoints adds every log endpoint to svc. Who may call what is declared in
// contracts and checked by the bus; a token that is present must verify, so a signed-in
// reader's views count under their user id, never under a visitor id they pass.
func RegisterEndpoints(svc *bus.Service, a *app.App, auth Verifier) error {
	svc.UseVerifier(auth)
	e := endpoints{app: a}
	for _, err := range []error{
		bus.Handle(svc, contracts.LogRecordView, e.recordView),
		bus.Handle(svc, contracts.LogPostStats, e.postStats),
		bus.Handle(svc, contracts.LogPopularNow, e.popularNow),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func (e endpoints) recordView(ctx context.Context, req contracts.RecordViewRequest) (contracts.RecordViewResponse, error) {
	p, _ := bus.Caller(ctx) // zero for anonymous callers
	visitor, err := domain.Visitor(p.UserID, req.VisitorID)
	if err != nil {
		return contracts.RecordViewResponse{}, err
	}
	host, err := contracts.ReferrerHost(req.Referrer)
	if err != nil {
		return contracts.RecordViewResponse{}, err
	}
	r, err := e.app.RecordView(ctx, postKey(req.PostID), visitor, host)
	if err != nil {
		return contracts.RecordViewResponse{}, err
	}
	return contracts.RecordViewResponse{Counted: r.Counted, Views: r.Views}, nil
}

func (e endpoints) postStats(ctx context.Context, req contracts.PostStatsRequest) (contracts.PostStats, error) {
	id := postKey(req.PostID)
	st, err := e.app.Stats(ctx, id)
	if err != nil {
		return contracts.PostStats{}, err
	}
	out := contracts.PostStats{PostID: id, Views: st.Views,
		Days: make([]contracts.DayViews, len(st.Days)), Referrers: make([]contracts.ReferrerViews, len(st.Referrers))}
	for i, d := range st.Days {
		out.Days[i] = contracts.DayViews{Day: d.Day, Views: d.Views}
	}
	for i, r := range st.Referrers {
		out.Referrers[i] = contracts.ReferrerViews{Host: r.Host, Views: r.Views}
	}
	return out, nil
}

func (e endpoints) popularNow(ctx context.Context, req contracts.PopularNowRequest) (contracts.PopularNowResponse, error) {
	top, since, err := e.app.PopularNow(ctx, req.WindowHours, req.Limit)
	if err != nil {
		return contracts.PopularNowResponse{}, err
	}
	out := contracts.PopularNowResponse{Items: make([]contracts.PopularPost, len(top)), Since: since}
	for i, p := range top {
		out.Items[i] = contracts.PopularPost{PostID: p.Post.ID, AuthorID: p.Post.AuthorID, Title: p.Post.Title, Views: p.Views}
	}
	return out, nil
}

// postKey is the form in which the log stores a post id: lower case, as the post service
// writes UUIDs. A UUID's hex digits are case-insensitive, and a caller's upper-case copy of an
// id names the same post.
func postKey(id string) string { return strings.ToLower(id) }
