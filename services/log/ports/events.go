package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/app"
)

// PostConsumer is the durable consumer of the post service's post events.
var PostConsumer = contracts.ConsumerSpec{
	Stream:  contracts.StreamPost,
	Durable: "log_post",
	FilterSubjects: []string{contracts.PostPublished.Filter(), contracts.PostUpdated.Filter(),
		contracts.PostDeleted.Filter()},
}

// PostEvents applies the post events: keyed by post id, so one post's events apply in order.
// Each is applied once: inbox (the middleware, see bus/docinbox) skips an event it recorded,
// and the post document's receipts absorb one it did not get to record.
func PostEvents(a *app.App, inbox bus.Middleware, concurrency int) host.Consumer {
	mux := bus.NewEventMux()
	bus.On(mux, contracts.PostPublished, func(ctx context.Context, e bus.Event[contracts.PostPublishedData]) error {
		return a.ApplyPost(ctx, change(e.Data.Post))
	})
	bus.On(mux, contracts.PostUpdated, func(ctx context.Context, e bus.Event[contracts.PostUpdatedData]) error {
		return a.ApplyPost(ctx, change(e.Data.Post))
	})
	bus.On(mux, contracts.PostDeleted, func(ctx context.Context, e bus.Event[contracts.PostDeletedData]) error {
		return a.ApplyPost(ctx, app.PostChange{PostID: e.Data.PostID, AuthorID: e.Data.AuthorID, Deleted: true})
	})
	return host.Consumer{Spec: PostConsumer, Handler: mux.Handler(), Options: []bus.ConsumeOption{
		bus.WithConsumerMiddleware(inbox), bus.WithKey(bus.SubjectKey), bus.WithConcurrency(concurrency)}}
}

func change(p contracts.PostSummary) app.PostChange {
	return app.PostChange{PostID: p.ID, AuthorID: p.AuthorID, Title: p.Title, Live: p.Status == contracts.PostStatusPublished}
}
