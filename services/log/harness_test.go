package log_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	logsvc "github.com/moa-run/moa/services/log"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is one log service on the service kit (embedded NATS and FerretDB, a test token
// issuer), driven through the typed client. The post service's events are emitted on the
// kit's runtime as the post service would (same stream, subjects and keys); Kit.Mongo is for
// assertions on what is stored.
type harness struct {
	*moatest.Kit[bus.Component]
	t    testing.TB
	log  *client.LogClient
	errs *moatest.ErrorLog
}

func newHarness(t testing.TB, settings map[string]string) *harness {
	t.Helper()
	errs := &moatest.ErrorLog{}
	k := moatest.Service(t, logsvc.Start, moatest.With{Mongo: true, Declared: logsvc.Settings, Settings: settings,
		Logger: slog.New(errs)})
	return &harness{Kit: k, t: t, log: k.Client.Log, errs: errs}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// emit publishes a post event as the post service does and returns its envelope.
func emit[T any](h *harness, ev contracts.Event[T], key string, data T) contracts.Envelope {
	h.t.Helper()
	env, err := bus.Emit(ctxT(h.t), h.Runtime, contracts.PostService.Name, ev, key, data)
	if err != nil {
		h.t.Fatalf("emit %s: %v", ev.Type(), err)
	}
	return env
}

// publish tells the log that a new post of author is published and waits until it knows.
func (h *harness) publish(author, title string) string {
	h.t.Helper()
	id := uuid.NewString()
	now := time.Now().UTC()
	emit(h, contracts.PostPublished, id, contracts.PostPublishedData{Post: contracts.PostSummary{
		ID: id, AuthorID: author, Slug: "post-" + id[:8], Title: title, Status: contracts.PostStatusPublished,
		Tags: []string{}, CreatedAt: now, PublishedAt: &now}})
	h.waitApplied(id, 1)
	return id
}

// waitApplied waits until n post events were applied to post id.
func (h *harness) waitApplied(id string, n int64) {
	h.t.Helper()
	moatest.Eventually(h.t, 30*time.Second, func() bool { return h.postDoc(id).Applied >= n },
		"post %s: %d events applied", id, n)
}

type postDoc struct {
	Title   string `bson:"title"`
	Live    bool   `bson:"live"`
	Deleted bool   `bson:"deleted"`
	Applied int64  `bson:"applied"`
}

func (h *harness) postDoc(id string) postDoc {
	h.t.Helper()
	var d postDoc
	_ = h.Mongo.Collection("posts").FindOne(ctxT(h.t), bson.D{{Key: "_id", Value: id}}).Decode(&d)
	return d
}

// view records an anonymous view by visitor.
func (h *harness) view(postID, visitor, referrer string) (contracts.RecordViewResponse, error) {
	return h.log.RecordView(ctxT(h.t), contracts.RecordViewRequest{PostID: postID, VisitorID: visitor, Referrer: referrer})
}

// visitor returns a valid anonymous visitor id, distinct per n.
func visitor(n int) string { return "visitor-" + strconv.Itoa(n) + "-0123456789abcdef" }

// stats returns a post's counts.
func (h *harness) stats(postID string) contracts.PostStats {
	h.t.Helper()
	st, err := h.log.PostStats(ctxT(h.t), postID)
	if err != nil {
		h.t.Fatalf("post_stats %s: %v", postID, err)
	}
	return st
}
