// Package adapters stores the visit log in MongoDB (the embedded FerretDB in tests and `moa
// dev`) and publishes its events from an outbox collection.
//
// Collections:
//
//	posts    one document per post the post service told about, _id = post id: author,
//	         title, whether it is live (published) and whether it was deleted, how many post
//	         events were applied to it and their receipts (bus/docinbox: each applied once).
//	visits   the dedup records, _id = "<post>/<visitor>/<window start, Unix s>": one per
//	         visitor per post per window. Inserting one is the claim to count the view: a
//	         duplicate, concurrent or not, collides on _id. The janitor deletes past windows.
//	counts   one document per counted post, _id = post id: views in total, per UTC day
//	         (days.<2006-01-02>), per referring host (refs.<host>, at most MaxReferrers per
//	         post), and the thresholds announced.
//	hours    the popular buckets, _id = "2006010215" (UTC hour): views per post id. The
//	         janitor deletes those that left every window.
//	outbox   the log.post_popular events to publish, _id = "<post>/<threshold>" (see Outbox).
//	schema   the migration version.
//
// Every write names its document by _id and is a single-document update or insert, atomic on
// MongoDB and, through internal/docstore's isolator, on the embedded FerretDB (which alone
// loses concurrent $inc). No transactions, TTL or partial indexes: FerretDB 1.24 has none.
package adapters

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus/docinbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/app"
	"github.com/moa-run/moa/services/log/domain"
)

// Collection names.
const (
	collPosts  = "posts"
	collVisits = "visits"
	collCounts = "counts"
	collHours  = "hours"
	collOutbox = "outbox"
)

// MaxReferrers bounds the distinct referring hosts kept per post: views from more hosts count
// under contracts.OtherReferrers, so that made-up referrers cannot grow a post's document
// without end.
const MaxReferrers = 200

// otherKey is the field of contracts.OtherReferrers under refs ('~' is in no host).
const otherKey = "~other"

// Repository implements app.Repository on a MongoDB database.
type Repository struct {
	posts, visits, counts, hours *mongo.Collection
}

var _ app.Repository = (*Repository)(nil)

// NewRepository returns the repository over db (run Migrate first).
func NewRepository(db *mongo.Database) *Repository {
	return &Repository{posts: db.Collection(collPosts), visits: db.Collection(collVisits),
		counts: db.Collection(collCounts), hours: db.Collection(collHours)}
}

// storeError maps a driver error onto the catalogue: the store being unreachable or slow is
// worth a retry; anything else is a bug or a broken store.
func storeError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded), mongo.IsTimeout(err):
		return contracts.ErrTimeout.Msg("log store: %s timed out", op).Wrap(err)
	case errors.Is(err, context.Canceled):
		return contracts.ErrCanceled.Msg("log store: %s canceled", op).Wrap(err)
	case mongo.IsNetworkError(err), errors.Is(err, mongo.ErrClientDisconnected):
		return contracts.ErrUnavailable.Msg("log store unavailable during %s", op).Wrap(err)
	}
	return contracts.ErrInternal.Msg("log store: %s failed", op).Wrap(err)
}

type postDoc struct {
	ID       string `bson:"_id"`
	AuthorID string `bson:"author_id"`
	Title    string `bson:"title"`
	Live     bool   `bson:"live"`
	Deleted  bool   `bson:"deleted"`
	Applied  int64  `bson:"applied"`
}

func (d postDoc) post() domain.Post {
	return domain.Post{ID: d.ID, AuthorID: d.AuthorID, Title: d.Title, Live: d.Live && !d.Deleted}
}

// Post implements app.Repository.
func (r *Repository) Post(ctx context.Context, id string) (domain.Post, bool, error) {
	var d postDoc
	err := r.posts.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return domain.Post{}, false, nil
	}
	if err != nil {
		return domain.Post{}, false, storeError("reading a post", err)
	}
	return d.post(), true, nil
}

// Posts implements app.Repository.
func (r *Repository) Posts(ctx context.Context, ids []string) (map[string]domain.Post, error) {
	out := make(map[string]domain.Post, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cur, err := r.posts.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: docinbox.ReceiptsField, Value: 0}}))
	if err != nil {
		return nil, storeError("reading posts", err)
	}
	var docs []postDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("reading posts", err)
	}
	for _, d := range docs {
		out[d.ID] = d.post()
	}
	return out, nil
}

// ApplyPost implements app.Repository: one update of the post's document, guarded by the
// event's receipt.
func (r *Repository) ApplyPost(ctx context.Context, c app.PostChange) error {
	set := bson.D{{Key: "author_id", Value: c.AuthorID}}
	if c.Deleted {
		set = append(set, bson.E{Key: "deleted", Value: true}, bson.E{Key: "live", Value: false})
	} else {
		set = append(set, bson.E{Key: "title", Value: c.Title}, bson.E{Key: "live", Value: c.Live})
	}
	_, err := docinbox.UpdateOnce(ctx, r.posts, bson.D{{Key: "_id", Value: c.PostID}},
		bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "applied", Value: 1}}}}, true)
	return storeError("applying a post event", err)
}

func visitID(postID, visitor string, window time.Time) string {
	return postID + "/" + visitor + "/" + strconv.FormatInt(window.Unix(), 10)
}

// FirstView implements app.Repository: an insert that collides on _id for every view after
// the first of the window.
func (r *Repository) FirstView(ctx context.Context, postID, visitor string, window time.Time) (bool, error) {
	_, err := r.visits.InsertOne(ctx, bson.D{{Key: "_id", Value: visitID(postID, visitor, window)},
		{Key: "w", Value: window.Unix()}})
	switch {
	case err == nil:
		return true, nil
	case mongo.IsDuplicateKeyError(err):
		return false, nil
	}
	return false, storeError("recording a visit", err)
}

// ForgetView implements app.Repository.
func (r *Repository) ForgetView(ctx context.Context, postID, visitor string, window time.Time) error {
	_, err := r.visits.DeleteOne(ctx, bson.D{{Key: "_id", Value: visitID(postID, visitor, window)}})
	return storeError("forgetting a visit", err)
}

// refKey is a host's field under refs: dots would make a path, so they become commas (which
// no host has).
func refKey(host string) string { return "refs." + strings.ReplaceAll(host, ".", ",") }

func refHost(key string) string {
	if key == otherKey {
		return contracts.OtherReferrers
	}
	return strings.ReplaceAll(key, ",", ".")
}

type countDoc struct {
	Views     int64            `bson:"views"`
	Days      map[string]int64 `bson:"days"`
	Refs      map[string]int64 `bson:"refs"`
	Announced []int64          `bson:"announced"`
}

// Count implements app.Repository. The hourly bucket is counted first: when the total cannot
// be, the app forgets the visit and a retry counts it again, so a failure can only put one
// view too many into a popular bucket, never one too few into the totals.
func (r *Repository) Count(ctx context.Context, postID string, at time.Time, refHost string) (int64, []int64, error) {
	if _, err := r.hours.UpdateOne(ctx, bson.D{{Key: "_id", Value: domain.Hour(at)}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "posts." + postID, Value: 1}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
		return 0, nil, storeError("counting a view in its hour", err)
	}
	var d countDoc
	err := r.counts.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: postID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "views", Value: 1}, {Key: "days." + domain.Day(at), Value: 1}}}},
		// No projection: FerretDB 1.24 does not implement findAndModify's "fields". The
		// document is a few kilobytes (one day's count a day, MaxReferrers hosts).
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&d)
	if err != nil {
		return 0, nil, storeError("counting a view", err)
	}
	if refHost != "" {
		// Best effort: the view is counted; a referrer that failed to count is a lesser loss
		// than counting the view twice.
		_ = r.countReferrer(ctx, postID, refHost)
	}
	return d.Views, d.Announced, nil
}

// countReferrer adds one view to host's count, among at most MaxReferrers hosts: a known host
// is incremented; a new one is added while the post has fewer than MaxReferrers (nrefs, which
// two concurrent first views of one host both increment: it may overcount, making the bound
// a little stricter, never looser); else the view counts under otherKey.
func (r *Repository) countReferrer(ctx context.Context, postID, host string) error {
	key := refKey(host)
	id := bson.E{Key: "_id", Value: postID}
	inc := func(filter bson.D, fields ...bson.E) (bool, error) {
		res, err := r.counts.UpdateOne(ctx, filter, bson.D{{Key: "$inc", Value: bson.D(fields)}})
		if err != nil {
			return false, err
		}
		return res.MatchedCount > 0, nil
	}
	for range 2 {
		if ok, err := inc(bson.D{id, {Key: key, Value: bson.D{{Key: "$exists", Value: true}}}}, bson.E{Key: key, Value: 1}); err != nil || ok {
			return err
		}
		ok, err := inc(bson.D{id, {Key: key, Value: bson.D{{Key: "$exists", Value: false}}},
			{Key: "nrefs", Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$gte", Value: MaxReferrers}}}}}},
			bson.E{Key: key, Value: 1}, bson.E{Key: "nrefs", Value: 1})
		if err != nil || ok {
			return err
		}
		// Either the post is full or a concurrent view added the host: look again once.
	}
	_, err := inc(bson.D{id}, bson.E{Key: refKey(otherKey), Value: 1})
	return err
}

// Stats implements app.Repository.
func (r *Repository) Stats(ctx context.Context, postID string, days []string, top int) (app.Stats, error) {
	proj := bson.D{{Key: "views", Value: 1}}
	for _, d := range days {
		proj = append(proj, bson.E{Key: "days." + d, Value: 1})
	}
	if top > 0 {
		proj = append(proj, bson.E{Key: "refs", Value: 1})
	}
	var d countDoc
	err := r.counts.FindOne(ctx, bson.D{{Key: "_id", Value: postID}}, options.FindOne().SetProjection(proj)).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return app.Stats{}, storeError("reading a post's counts", err)
	}
	st := app.Stats{Views: d.Views, Days: d.Days, Referrers: []app.Referrer{}}
	for k, n := range d.Refs {
		st.Referrers = append(st.Referrers, app.Referrer{Host: refHost(k), Views: n})
	}
	sortReferrers(st.Referrers)
	if len(st.Referrers) > top {
		st.Referrers = st.Referrers[:top]
	}
	return st, nil
}

// Buckets implements app.Repository.
func (r *Repository) Buckets(ctx context.Context, hours []string) (map[string]int64, error) {
	cur, err := r.hours.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: hours}}}})
	if err != nil {
		return nil, storeError("reading popular buckets", err)
	}
	var docs []struct {
		Posts map[string]int64 `bson:"posts"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("reading popular buckets", err)
	}
	out := map[string]int64{}
	for _, d := range docs {
		for id, n := range d.Posts {
			out[id] += n
		}
	}
	return out, nil
}

// MarkAnnounced implements app.Repository.
func (r *Repository) MarkAnnounced(ctx context.Context, postID string, threshold int64) error {
	_, err := r.counts.UpdateOne(ctx, bson.D{{Key: "_id", Value: postID}},
		bson.D{{Key: "$addToSet", Value: bson.D{{Key: "announced", Value: threshold}}}})
	return storeError("marking a threshold announced", err)
}

// Expire implements app.Repository.
func (r *Repository) Expire(ctx context.Context, windowsBefore time.Time, hoursBefore string) (int64, error) {
	v, err := r.visits.DeleteMany(ctx, bson.D{{Key: "w", Value: bson.D{{Key: "$lt", Value: windowsBefore.Unix()}}}})
	if err != nil {
		return 0, storeError("expiring visits", err)
	}
	h, err := r.hours.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: hoursBefore}}}})
	if err != nil {
		return v.DeletedCount, storeError("expiring popular buckets", err)
	}
	return v.DeletedCount + h.DeletedCount, nil
}
