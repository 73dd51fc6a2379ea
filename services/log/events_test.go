package log_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/docinbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// Every post event is applied once, however often it is delivered: each is re-published twice
// under new message ids (so the stream keeps the copies), once with the inbox's records in
// place and once after deleting them, so that only the post documents' receipts can tell.
// Titles and states follow the events; a deleted post leaves the popular list and is no
// longer counted.
func TestPostEventsApplyOnce(t *testing.T) {
	h := newHarness(t, nil)
	post := h.publish("author-1", "First title")
	other := h.publish("author-2", "Other")
	for i, id := range []string{post, post, other} {
		if _, err := h.view(id, visitor(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	upd := emit(h, contracts.PostUpdated, post, contracts.PostUpdatedData{Changed: []string{"title"}, Post: contracts.PostSummary{
		ID: post, AuthorID: "author-1", Slug: "p", Title: "Second title", Status: contracts.PostStatusPublished, Tags: []string{}, CreatedAt: now}})
	h.waitApplied(post, 2)
	var envs []contracts.Envelope
	for _, e := range h.Events(t, "evt.post.>") {
		if e.Key == post {
			envs = append(envs, e)
		}
	}
	if len(envs) != 2 || envs[1].ID != upd.ID {
		t.Fatalf("%d events of the post on the stream", len(envs))
	}
	republish(t, h, envs, "a")
	if _, err := h.Mongo.Collection(docinbox.Collection).DeleteMany(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	republish(t, h, envs, "b")
	// The copies are consumed once the consumer's ack floor reaches the last of them.
	info, err := h.Runtime.JetStream().Stream(ctxT(t), contracts.StreamPost.Name)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	h.WaitConsumed(t, contracts.StreamPost.Name, "log_post", si.State.LastSeq)
	if d := h.postDoc(post); d.Applied != 2 || d.Title != "Second title" || !d.Live {
		t.Fatalf("post after 3 deliveries of 2 events: %+v, want 2 applied, the second title, live", d)
	}
	pop, err := h.log.PopularNow(ctxT(t), contracts.PopularNowRequest{})
	if err != nil || len(pop.Items) != 2 || pop.Items[0].Title != "Second title" || pop.Items[0].Views != 2 {
		t.Fatalf("popular_now: %+v, %v", pop, err)
	}
	// Unpublished (a draft again): not listed, not counted; published again: back.
	emit(h, contracts.PostUpdated, post, contracts.PostUpdatedData{Changed: []string{"status"}, Post: contracts.PostSummary{
		ID: post, AuthorID: "author-1", Slug: "p", Title: "Second title", Status: contracts.PostStatusDraft, Tags: []string{}, CreatedAt: now}})
	h.waitApplied(post, 3)
	_, err = h.view(post, visitor(50), "")
	moatest.WantError(t, err, contracts.ErrNotFound, "", "view of a draft")
	if pop, _ := h.log.PopularNow(ctxT(t), contracts.PopularNowRequest{}); len(pop.Items) != 1 || pop.Items[0].PostID != other {
		t.Fatalf("popular_now with the post a draft: %+v", pop)
	}
	emit(h, contracts.PostDeleted, post, contracts.PostDeletedData{PostID: post, AuthorID: "author-1", DeletedAt: now})
	h.waitApplied(post, 4)
	// A redelivered older publication (a replay) does not bring it back.
	emit(h, contracts.PostPublished, post, contracts.PostPublishedData{Post: contracts.PostSummary{
		ID: post, AuthorID: "author-1", Slug: "p", Title: "Second title", Status: contracts.PostStatusPublished, Tags: []string{}, CreatedAt: now}})
	h.waitApplied(post, 5)
	_, err = h.view(post, visitor(51), "")
	moatest.WantError(t, err, contracts.ErrNotFound, "", "view of a deleted post")
	_, err = h.log.PostStats(ctxT(t), post)
	moatest.WantError(t, err, contracts.ErrNotFound, "", "stats of a deleted post")
	if pop, _ := h.log.PopularNow(ctxT(t), contracts.PopularNowRequest{}); len(pop.Items) != 1 || pop.Items[0].PostID != other {
		t.Fatalf("popular_now after the delete: %+v", pop)
	}
}

func republish(t *testing.T, h *harness, envs []contracts.Envelope, round string) {
	t.Helper()
	for _, env := range envs {
		m, err := bus.EnvelopeMsg("evt."+env.Type+"."+env.Key, env)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set(jetstream.MsgIDHeader, env.ID+"-"+round)
		if _, err := h.Runtime.JetStream().PublishMsg(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
	}
}

// Concurrent crossings of a threshold announce it once: 40 visitors view a post at once with
// thresholds 5 and 20; exactly two log.post_popular events are stored, one per threshold,
// with the post's author and title, and later views add none.
func TestThresholdAnnouncedOnceUnderConcurrency(t *testing.T) {
	h := newHarness(t, map[string]string{"POPULAR_THRESHOLDS": "20,5", "RELAY_INTERVAL": "50ms"})
	post := h.publish("author-1", "Going viral")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for v := range n {
		wg.Go(func() {
			if _, err := h.view(post, visitor(v), ""); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs := h.WaitEvents(t, "evt.log.post_popular.>", 2)
	got := map[int64]bool{}
	for _, e := range evs {
		var d contracts.PostPopularData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.PostID != post || d.AuthorID != "author-1" || d.Title != "Going viral" || e.Key != post {
			t.Fatalf("event %+v (key %s)", d, e.Key)
		}
		got[d.Threshold] = true
	}
	if !got[5] || !got[20] {
		t.Fatalf("thresholds announced: %v, want 5 and 20", got)
	}
	// Every record is sent and marked announced; more views and relay rounds add nothing.
	moatest.Eventually(t, 10*time.Second, func() bool {
		n, _ := h.Mongo.Collection("outbox").CountDocuments(ctxT(t), bson.D{{Key: "sent", Value: true}})
		return n == 2
	}, "outbox records sent")
	for v := n; v < n+5; v++ {
		if _, err := h.view(post, visitor(v), ""); err != nil {
			t.Fatal(err)
		}
	}
	var c struct {
		Views     int64   `bson:"views"`
		Announced []int64 `bson:"announced"`
	}
	if err := h.Mongo.Collection("counts").FindOne(ctxT(t), bson.D{{Key: "_id", Value: post}}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Views != n+5 || len(c.Announced) != 2 {
		t.Fatalf("counts: %+v, want %d views and 2 thresholds announced", c, n+5)
	}
	if evs := h.Events(t, "evt.log.post_popular.>"); len(evs) != 2 {
		t.Fatalf("%d post_popular events, want 2", len(evs))
	}
	t.Logf("%d concurrent views, %d thresholds announced once each", n, len(got))
}
