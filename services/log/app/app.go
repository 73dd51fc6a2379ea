// Package app holds the visit log's use cases: record a view, a post's counts, the popular
// list, and applying the post service's events. It names no wire type; ports map them.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/domain"
)

// Repository is the log's store.
type Repository interface {
	// Post returns what the log knows of a post (false when it never heard of it).
	Post(ctx context.Context, id string) (domain.Post, bool, error)
	// Posts returns the posts of ids the log knows.
	Posts(ctx context.Context, ids []string) (map[string]domain.Post, error)
	// FirstView records that visitor viewed post in the window starting at window, and
	// reports whether this was the first such view: exactly one of any number of concurrent
	// calls with the same arguments gets true.
	FirstView(ctx context.Context, postID, visitor string, window time.Time) (bool, error)
	// ForgetView removes what FirstView recorded, so that the visitor's next view counts.
	ForgetView(ctx context.Context, postID, visitor string, window time.Time) error
	// Count adds one view of post at at (from refHost, "" for none) to its total, its day and
	// its hourly bucket, and returns the total after it and the thresholds already announced.
	Count(ctx context.Context, postID string, at time.Time, refHost string) (int64, []int64, error)
	// Stats returns a post's total, its views of the given days and its top referrers.
	Stats(ctx context.Context, postID string, days []string, top int) (Stats, error)
	// Buckets returns the views per post of the hourly buckets named.
	Buckets(ctx context.Context, hours []string) (map[string]int64, error)
	// MarkAnnounced records that post's threshold was announced (its event is in the outbox).
	MarkAnnounced(ctx context.Context, postID string, threshold int64) error
	// ApplyPost applies a post event, once per event receipt in ctx.
	ApplyPost(ctx context.Context, c PostChange) error
	// Expire deletes the dedup records of windows that started before windowsBefore and the
	// hourly buckets older than hoursBefore.
	Expire(ctx context.Context, windowsBefore time.Time, hoursBefore string) (int64, error)
}

// Announcer puts "post reached threshold" into the outbox, once per post and threshold, and
// publishes it.
type Announcer interface {
	Announce(ctx context.Context, p domain.Post, threshold int64) error
}

// Stats is a post's counts.
type Stats struct {
	Views     int64
	Days      map[string]int64
	Referrers []Referrer
}

// Referrer is a referring host and its views.
type Referrer struct {
	Host  string
	Views int64
}

// Options configure the app.
type Options struct {
	Window     time.Duration // the dedup window
	Thresholds []int64       // view counts that make a post popular
	Now        func() time.Time
	Log        *slog.Logger
}

// App is the log's use cases.
type App struct {
	repo Repository
	ann  Announcer
	opt  Options
}

// New returns the app over repo and ann.
func New(repo Repository, ann Announcer, opt Options) *App {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &App{repo: repo, ann: ann, opt: opt}
}

// Recorded is the outcome of a view.
type Recorded struct {
	Counted bool
	Views   int64
}

// RecordView counts visitor's view of a live post, once per visitor per window. refHost is
// the validated referring host ("" for none).
//
// The counting follows the catalog's product views: the dedup record is created first, and
// only the call that created it increments the counts (so concurrent duplicates count once);
// when the increment fails the record is removed again, so a retry counts.
func (a *App) RecordView(ctx context.Context, postID, visitor, refHost string) (Recorded, error) {
	p, ok, err := a.repo.Post(ctx, postID)
	if err != nil {
		return Recorded{}, err
	}
	if !ok || !p.Live {
		return Recorded{}, contracts.ErrNotFound.Msg("no published post %s", postID)
	}
	now := a.opt.Now()
	window := domain.Window(now, a.opt.Window)
	first, err := a.repo.FirstView(ctx, postID, visitor, window)
	if err != nil {
		return Recorded{}, err
	}
	if !first {
		st, err := a.repo.Stats(ctx, postID, nil, 0)
		return Recorded{Views: st.Views}, err
	}
	views, announced, err := a.repo.Count(ctx, postID, now, refHost)
	if err != nil {
		if ferr := a.repo.ForgetView(context.WithoutCancel(ctx), postID, visitor, window); ferr != nil {
			a.opt.Log.Warn("view counted nowhere and its dedup record kept", "post", postID, "err", ferr)
		}
		return Recorded{}, err
	}
	for _, t := range domain.Reached(a.opt.Thresholds, views, announced) {
		a.announce(ctx, p, t)
	}
	return Recorded{Counted: true, Views: views}, nil
}

// announce tells that p reached threshold. The outbox record is the claim: of concurrent
// crossings, one inserts it and the others find it, and the event goes out once (with one
// event id, which the stream deduplicates besides). It does not fail the view: a record that
// could not be written is retried by the next view of the post (the threshold is not marked
// announced until it is), one that could not be published by the relay.
func (a *App) announce(ctx context.Context, p domain.Post, threshold int64) {
	if err := a.ann.Announce(ctx, p, threshold); err != nil {
		a.opt.Log.Warn("popular post not announced yet", "post", p.ID, "threshold", threshold, "err", err)
		return
	}
	if err := a.repo.MarkAnnounced(ctx, p.ID, threshold); err != nil {
		a.opt.Log.Warn("popular post announced but not marked", "post", p.ID, "threshold", threshold, "err", err)
	}
}

// DayViews is one day's views.
type DayViews struct {
	Day   string
	Views int64
}

// PostStats is a post's counts for post_stats.
type PostStats struct {
	Views     int64
	Days      []DayViews
	Referrers []Referrer
}

// Stats returns a post's counts. A post the log has never counted has zeros; one it does not
// know (or knows as deleted) is not found.
func (a *App) Stats(ctx context.Context, postID string) (PostStats, error) {
	p, ok, err := a.repo.Post(ctx, postID)
	if err != nil {
		return PostStats{}, err
	}
	if !ok || !p.Live {
		return PostStats{}, contracts.ErrNotFound.Msg("no published post %s", postID)
	}
	days := domain.Days(a.opt.Now(), contracts.LogStatsDays)
	st, err := a.repo.Stats(ctx, postID, days, contracts.LogTopReferrers)
	if err != nil {
		return PostStats{}, err
	}
	out := PostStats{Views: st.Views, Days: make([]DayViews, len(days)), Referrers: st.Referrers}
	for i, d := range days {
		out.Days[i] = DayViews{Day: d, Views: st.Days[d]}
	}
	return out, nil
}

// Popular is one post of the popular list.
type Popular struct {
	Post  domain.Post
	Views int64
}

// PopularNow returns the live posts viewed most over the last windowHours hourly buckets
// (0: contracts.LogWindowHoursMax), at most limit (0: contracts.LogPopularDefault), and the
// start of the oldest bucket.
func (a *App) PopularNow(ctx context.Context, windowHours, limit int) ([]Popular, time.Time, error) {
	if windowHours <= 0 {
		windowHours = contracts.LogWindowHoursMax
	}
	if limit <= 0 {
		limit = contracts.LogPopularDefault
	}
	hours, since := domain.Hours(a.opt.Now(), windowHours)
	counts, err := a.repo.Buckets(ctx, hours)
	if err != nil {
		return nil, since, err
	}
	ranked := domain.Rank(counts)
	out := []Popular{}
	// Deleted and unpublished posts are skipped here rather than removed from the buckets:
	// the post's state is one document, the buckets are many.
	for start := 0; start < len(ranked) && len(out) < limit; start += 2 * limit {
		chunk := ranked[start:min(len(ranked), start+2*limit)]
		ids := make([]string, len(chunk))
		for i, r := range chunk {
			ids[i] = r.PostID
		}
		posts, err := a.repo.Posts(ctx, ids)
		if err != nil {
			return nil, since, err
		}
		for _, r := range chunk {
			if p, ok := posts[r.PostID]; ok && p.Live && len(out) < limit {
				out = append(out, Popular{Post: p, Views: r.Views})
			}
		}
	}
	return out, since, nil
}

// Expire deletes dedup records of past windows and buckets that left every popular window.
func (a *App) Expire(ctx context.Context) (int64, error) {
	now := a.opt.Now()
	hours, _ := domain.Hours(now, contracts.LogWindowHoursMax)
	return a.repo.Expire(ctx, domain.Window(now, a.opt.Window), hours[0])
}
