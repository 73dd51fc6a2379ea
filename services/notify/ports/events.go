package ports

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/app"
)

// The notify service's durable consumers. Each writes through the inbox, keyed by the
// subject's last token (subscription, product, user, post), so one aggregate's events apply in order.
var (
	SubscriptionConsumer = contracts.ConsumerSpec{
		Stream: contracts.StreamSubscription, Durable: "notify_subscription",
		FilterSubjects: []string{contracts.SubscriptionActivated.Filter(), contracts.SubscriptionCancelled.Filter()},
		MaxDeliver:     10,
		Backoff:        []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 15 * time.Second},
		// The saga's last step: a notification in flight when the consumer's leader dies comes
		// back after AckWait, and at the bus's default (30 s) it arrived 30 s after its saga
		// ended (TestSagaFailoverKillAndFreeze in internal/sagasuite). Held messages are kept
		// alive with InProgress, so this never limits a handler's run.
		AckWait: 5 * time.Second,
	}
	// CatalogConsumer waits longer between tries: a terms change needs the subscription
	// service, which may be down for a while.
	CatalogConsumer = contracts.ConsumerSpec{
		Stream: contracts.StreamCatalog, Durable: "notify_catalog",
		FilterSubjects: []string{contracts.ProductCreated.Filter(), contracts.ProductChanged.Filter(), contracts.ProductTermsChanged.Filter()},
		MaxDeliver:     20,
		Backoff:        []time.Duration{500 * time.Millisecond, 2 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute},
	}
	// PostConsumer takes the blog's comments, keyed by post id, to alert the post's and the
	// parent comment's authors. It needs nothing but notify's own database.
	PostConsumer = contracts.ConsumerSpec{
		Stream: contracts.StreamPost, Durable: "notify_post",
		FilterSubjects: []string{contracts.PostCommented.Filter()},
		MaxDeliver:     10,
		Backoff:        []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 15 * time.Second},
	}
	// LogConsumer takes the blog's popular posts, keyed by post id, to tell their authors. Like
	// PostConsumer it needs nothing but notify's own database.
	LogConsumer = contracts.ConsumerSpec{
		Stream: contracts.StreamLog, Durable: "notify_log",
		FilterSubjects: []string{contracts.LogPostPopular.Filter()},
		MaxDeliver:     10,
		Backoff:        []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 15 * time.Second},
	}
	DirectoryConsumer = contracts.ConsumerSpec{
		Stream: contracts.StreamAuth, Durable: "notify_directory",
		FilterSubjects: []string{contracts.AuthUserSignedUp.Filter()},
	}
)

// Deps is what the consumers need besides the app: the adapters they hand the app, which the
// service's Start wires, so that ports depend on the app's interfaces only.
type Deps struct {
	// Writer returns the app's writer on tx, the inbox's transaction of the event being handled.
	Writer      func(tx pgx.Tx) app.Writer
	Pusher      app.Pusher // nil: no pushes
	WakeSender  func()
	Concurrency int
	Registry    prometheus.Registerer
}

// Consumers declares the notify consumers.
func Consumers(a *app.App, d Deps) []host.Consumer {
	sub := bus.NewEventMux()
	bus.On(sub, contracts.SubscriptionActivated, func(ctx context.Context, e bus.Event[contracts.SubscriptionTerminalData]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) {
			return a.SubscriptionEnded(ctx, w, contracts.NotificationSubscriptionActivated, terminal(e.Data))
		})
	})
	bus.On(sub, contracts.SubscriptionCancelled, func(ctx context.Context, e bus.Event[contracts.SubscriptionTerminalData]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) {
			return a.SubscriptionEnded(ctx, w, contracts.NotificationSubscriptionCancelled, terminal(e.Data))
		})
	})

	cat := bus.NewEventMux()
	bus.On(cat, contracts.ProductCreated, func(ctx context.Context, e bus.Event[contracts.ProductCreatedData]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) {
			return app.Effects{}, a.ProductSeen(ctx, w, product(e.Data.Product))
		})
	})
	bus.On(cat, contracts.ProductChanged, func(ctx context.Context, e bus.Event[contracts.ProductChangedData]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) {
			return app.Effects{}, a.ProductSeen(ctx, w, product(e.Data.Product))
		})
	})
	bus.On(cat, contracts.ProductTermsChanged, func(ctx context.Context, e bus.Event[contracts.ProductTermsChangedData]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) { return a.TermsChanged(ctx, w, terms(e.Data)) })
	})

	dir := bus.NewEventMux()
	bus.On(dir, contracts.AuthUserSignedUp, func(ctx context.Context, e bus.Event[contracts.UserSignedUp]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) {
			if err := a.UserSignedUp(ctx, w, user(e.Data)); err != nil {
				return app.Effects{}, err
			}
			return app.Effects{Mails: 1}, nil // mails waiting for this address are due now
		})
	})

	post := bus.NewEventMux()
	bus.On(post, contracts.PostCommented, func(ctx context.Context, e bus.Event[contracts.PostCommentedData]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) { return a.Commented(ctx, w, comment(e.Data)) })
	})

	logs := bus.NewEventMux()
	bus.On(logs, contracts.LogPostPopular, func(ctx context.Context, e bus.Event[contracts.PostPopularData]) error {
		return effect(ctx, func(w app.Writer) (app.Effects, error) { return a.PostPopular(ctx, w, popular(e.Data)) })
	})

	m := newMetrics(d.Registry)
	var cs []host.Consumer
	for _, c := range []struct {
		spec contracts.ConsumerSpec
		h    bus.Handler
	}{{SubscriptionConsumer, sub.Handler()}, {CatalogConsumer, cat.Handler()}, {DirectoryConsumer, dir.Handler()},
		{PostConsumer, post.Handler()}, {LogConsumer, logs.Handler()}} {
		dups := m.duplicates.WithLabelValues(c.spec.Durable)
		// afterCommit runs outside the inbox, the writer inside its transaction.
		cs = append(cs, host.Consumer{Spec: c.spec, Handler: writer(d.Writer)(c.h),
			Inbox: true, InboxOptions: []outbox.InboxOption{outbox.OnDuplicate(func(context.Context, *bus.Msg, string) { dups.Inc() })},
			Options: []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(max(1, d.Concurrency)),
				bus.WithConsumerMiddleware(afterCommit(d, m))}})
	}
	return cs
}

type effectsKey struct{}
type writerKey struct{}

// pending collects what one message's handler leaves to do after the commit.
type pending struct{ app.Effects }

// afterCommit runs outside the inbox: it sees the handler's effects only once the inbox
// committed them, and only then pushes the notifications and wakes the sender. A push is never
// seen for a notification that does not exist.
func afterCommit(d Deps, met *metrics) bus.Middleware {
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Msg) ([]byte, error) {
			p := &pending{}
			out, err := next(context.WithValue(ctx, effectsKey{}, p), m)
			if err != nil {
				return out, err
			}
			for _, n := range p.Notifications {
				met.stored.WithLabelValues(n.Kind).Inc()
			}
			if len(p.Notifications) > 0 && d.Pusher != nil {
				d.Pusher.Push(p.Notifications...)
			}
			if p.Mails > 0 && d.WakeSender != nil {
				d.WakeSender()
			}
			return out, nil
		}
	}
}

// writer runs inside the inbox and hands the handler a Writer on the inbox's transaction.
func writer(newWriter func(pgx.Tx) app.Writer) bus.Middleware {
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Msg) ([]byte, error) {
			tx := outbox.Tx(ctx)
			if tx == nil {
				return nil, errors.New("notify: no inbox transaction")
			}
			return next(context.WithValue(ctx, writerKey{}, newWriter(tx)), m)
		}
	}
}

// effect runs fn with the message's writer and records its effects for after the commit.
func effect(ctx context.Context, fn func(w app.Writer) (app.Effects, error)) error {
	w, _ := ctx.Value(writerKey{}).(app.Writer)
	p, _ := ctx.Value(effectsKey{}).(*pending)
	if w == nil || p == nil {
		return errors.New("notify: handler outside its middleware")
	}
	eff, err := fn(w)
	if err != nil {
		return err
	}
	p.Notifications = append(p.Notifications, eff.Notifications...)
	p.Mails += eff.Mails
	return nil
}

// metrics count what the consumers did.
type metrics struct {
	stored     *prometheus.CounterVec
	duplicates *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		stored: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Subsystem: "notify", Name: "notifications_total",
			Help: "Notifications stored (and then pushed), by kind."}, []string{"kind"})),
		duplicates: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Subsystem: "notify", Name: "inbox_duplicates_total",
			Help: "Events the inbox absorbed as already handled, by consumer."}, []string{"consumer"})),
	}
}
