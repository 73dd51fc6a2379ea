package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// Consumer runs a handler over a durable JetStream consumer. It is Moa's actor.
//
// With [WithKey], every key (an aggregate id, the last subject token with [SubjectKey]) is an
// actor with a mailbox: its messages are handled one at a time, in the order the consumer
// received them (stream order), while different keys run in parallel on up to
// [WithConcurrency] workers. A free worker always takes the oldest message whose key is not
// busy, so with one worker the consumer follows stream order exactly, and a hot key cannot
// starve the others: their older messages go first. A failing message is retried in place,
// after the spec's backoff, holding its key's mailbox (the messages behind it wait, so order
// is kept) but not a worker (other keys keep going); after MaxDeliver attempts, or at once for
// a permanent error, it is dead-lettered and the key moves on. Without a key, messages are independent: a failure is naked with the backoff delay
// and the server redelivers it, to any instance.
//
// Every message the consumer holds, running or waiting in a mailbox, is kept alive with
// InProgress, so AckWait only bounds how fast a crashed instance's messages come back, never
// how long a handler may run or a mailbox may wait. A message is acked only after its handler
// returned nil. The server is asked for MaxDeliver+1 deliveries: a delivery past MaxDeliver
// means the consumer crashed or hung on every earlier one, and it is dead-lettered without
// running the handler again (a poison message that kills the process must not kill it
// forever). If even that fails, the server's MAX_DELIVERIES advisory triggers the same dead
// letter from any live instance.
//
// MaxDeliver counts deliveries as JetStream does: a message handed back at shutdown (naked
// unstarted, see [Consumer.Stop]) comes back as its next delivery. Leave room for restarts
// in MaxDeliver; the default of 5 does.
//
// Arrival order holds within one consumer instance, and after a crash arrival is not stream
// order: the dead instance's unacked messages come back only after AckWait, while those it
// never received come at once. Events an outbox emitted carry a version of their subject, and
// its inbox applies them in that order across crashes: an event whose predecessor is not
// applied is answered [NotYet] and parked here until a message of its key settles (see
// consumer_order.go). Several instances of one durable share its messages, so two instances
// may hold messages of the same key: run one instance per durable where cross-message order
// matters, and make handlers idempotent anyway (the inbox).
type Consumer struct {
	rt      *Runtime
	service string
	spec    contracts.ConsumerSpec
	cfg     consumeConfig
	h       Handler
	jcfg    jetstream.ConsumerConfig

	iterMu sync.Mutex
	iter   jetstream.MessagesContext

	mu      sync.Mutex
	work    *sync.Cond
	boxes   map[string]*mailbox // keyed consumers: keys with messages held
	ready   readyHeap           // mailboxes whose head may run now, oldest head first
	arrived uint64              // arrival counter: the order of held messages
	batches int                 // with WithBatch: batches running (see holdBack)
	held    map[*delivery]struct{}
	closing bool

	checking atomic.Bool // a checkParked is running

	workers   sync.WaitGroup
	loopDone  chan struct{}
	stopCh    chan struct{} // closed by stopFetching
	quit      chan struct{} // closed when workers must stop
	tickStop  chan struct{} // closed when the last worker has returned
	tickDone  chan struct{}
	stopOnce  sync.Once
	waitOnce  sync.Once
	unwatchFn func()
}

type consumeConfig struct {
	concurrency    int
	maxAckPending  int
	key            func(*Msg) string
	mws            []Middleware
	handlerTimeout time.Duration
	batch          int // up to this many messages per Batch (1: no batching)
	beginBatch     func(ctx context.Context) (context.Context, Batch, error)
}

// ConsumeOption configures a consumer.
type ConsumeOption func(*consumeConfig)

// WithConcurrency bounds handlers running at once (default 1: strictly sequential).
func WithConcurrency(n int) ConsumeOption {
	return func(c *consumeConfig) {
		if n > 0 {
			c.concurrency = n
		}
	}
}

// WithMaxAckPending bounds the messages the server lets this consumer hold unacknowledged
// (default max(256, 8×concurrency)). Held messages wait in mailboxes; the bound is what keeps
// one hot key from pulling the whole stream into memory.
func WithMaxAckPending(n int) ConsumeOption {
	return func(c *consumeConfig) {
		if n > 0 {
			c.maxAckPending = n
		}
	}
}

// WithKey turns the consumer into per-key mailboxes: key returns the actor key of a message.
// [SubjectKey] takes it from the last subject token, which is where Moa events carry it.
func WithKey(key func(*Msg) string) ConsumeOption { return func(c *consumeConfig) { c.key = key } }

// WithConsumerMiddleware adds middleware for this consumer only, inside the runtime's chain
// (the inbox, for one, is such a middleware).
func WithConsumerMiddleware(mws ...Middleware) ConsumeOption {
	return func(c *consumeConfig) { c.mws = append(c.mws, mws...) }
}

// WithHandlerTimeout bounds one handler run (default 1 minute).
func WithHandlerTimeout(d time.Duration) ConsumeOption {
	return func(c *consumeConfig) { c.handlerTimeout = d }
}

// Batch is one unit of commit shared by the handler runs of several messages (see [WithBatch]):
// for the outbox's inbox, one PostgreSQL transaction in which each message runs inside a
// savepoint of its own.
type Batch interface {
	// Commit makes the effects of the batch's successful runs durable. When it fails, none of
	// them is, and every message of the batch is retried.
	Commit(ctx context.Context) error
	// Rollback abandons the batch; it is called instead of Commit when no run succeeded.
	Rollback(ctx context.Context)
}

// WithBatch lets a worker take up to n ready messages at once and run their handlers one after
// the other inside one Batch that begin opens; the context begin returns is the parent of each
// handler's context (the middleware that owns the batch finds it there). A message whose
// handler fails is undone alone by that middleware and retried, dead-lettered or parked as it
// would be without a batch; the others are acked only once Commit returned nil. With a key,
// the messages of one batch have distinct keys (a batch takes the head of each of up to n ready
// mailboxes), so per-key order is unchanged. n <= 1 or a nil begin leaves batching off (the
// default). The handler contract is unchanged: a handler sees one message.
func WithBatch(n int, begin func(ctx context.Context) (context.Context, Batch, error)) ConsumeOption {
	return func(c *consumeConfig) {
		if n > 1 && begin != nil {
			c.batch, c.beginBatch = n, begin
		} else {
			c.batch, c.beginBatch = 1, nil
		}
	}
}

// SubjectKey returns the last token of the message subject.
func SubjectKey(m *Msg) string {
	for i := len(m.Subject) - 1; i >= 0; i-- {
		if m.Subject[i] == '.' {
			return m.Subject[i+1:]
		}
	}
	return m.Subject
}

// ConsumerDefaults fills unset fields of spec with Moa's defaults.
func ConsumerDefaults(spec contracts.ConsumerSpec) contracts.ConsumerSpec {
	if spec.AckWait <= 0 {
		spec.AckWait = 30 * time.Second
	}
	if spec.MaxDeliver <= 0 {
		spec.MaxDeliver = 5
	}
	if len(spec.Backoff) == 0 {
		spec.Backoff = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, 5 * time.Second}
	}
	return spec
}

// Consume starts a durable consumer for service on spec.Stream, creating or updating it.
func (r *Runtime) Consume(ctx context.Context, service string, spec contracts.ConsumerSpec, h Handler, opts ...ConsumeOption) (*Consumer, error) {
	if !contracts.IsToken(spec.Durable) {
		return nil, contracts.ErrValidation.OnField("durable", "consumer name %q is not a valid subject token", spec.Durable)
	}
	spec = ConsumerDefaults(spec)
	cfg := consumeConfig{concurrency: 1, handlerTimeout: time.Minute, batch: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxAckPending == 0 {
		cfg.maxAckPending = max(256, cfg.concurrency*8)
	}
	c := &Consumer{
		rt: r, service: service, spec: spec, cfg: cfg,
		h: r.chain(Chain(h, cfg.mws...)),
		jcfg: jetstream.ConsumerConfig{
			Durable:        spec.Durable,
			FilterSubjects: spec.FilterSubjects,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        spec.AckWait,
			MaxDeliver:     spec.MaxDeliver + 1, // the last one only dead-letters, see Consumer
			DeliverPolicy:  jetstream.DeliverAllPolicy,
			MaxAckPending:  cfg.maxAckPending,
		},
		boxes:    map[string]*mailbox{},
		held:     map[*delivery]struct{}{},
		loopDone: make(chan struct{}),
		stopCh:   make(chan struct{}),
		quit:     make(chan struct{}),
		tickStop: make(chan struct{}),
		tickDone: make(chan struct{}),
	}
	c.work = sync.NewCond(&c.mu)
	// Creation is a start-up step: instances starting together with their cluster wait out a
	// JetStream API that is busy or not ready (Setup) rather than fail the start.
	var iter jetstream.MessagesContext
	err := r.Setup(ctx, "consumer "+spec.Durable+" on "+spec.Stream.Name, func(ctx context.Context) (err error) {
		iter, err = c.open(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.iter = iter
	unwatch, err := r.DeadLetterExhausted(service, spec)
	if err != nil {
		iter.Stop()
		return nil, err
	}
	c.unwatchFn = unwatch
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		iter.Stop()
		unwatch()
		return nil, errors.New("bus: runtime closed")
	}
	r.consumers = append(r.consumers, c)
	r.mu.Unlock()
	for range cfg.concurrency {
		c.workers.Add(1)
		go c.worker()
	}
	go c.loop()
	go c.keepAlive()
	return c, nil
}

// open creates or updates the durable and starts pulling from it.
func (c *Consumer) open(ctx context.Context) (jetstream.MessagesContext, error) {
	jc, err := c.rt.js.CreateOrUpdateConsumer(ctx, c.spec.Stream.Name, c.jcfg)
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s on %s: %w", c.spec.Durable, c.spec.Stream.Name, err)
	}
	iter, err := jc.Messages(
		jetstream.PullMaxMessages(min(c.cfg.maxAckPending, max(64, c.cfg.concurrency*4))),
		jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s: %w", c.spec.Durable, err)
	}
	return iter, nil
}

// How a consumer notices that the server it pulls from is gone. A pull request lives on the
// consumer's leader; when that leader dies or freezes, the request dies with it and nothing
// says so. The server sends an idle heartbeat every pullHeartbeat while a pull waits, and the
// client reports two missed ones (jetstream.ErrNoHeartbeat): the loop then pulls again on the
// same iterator, which reaches whichever server leads the consumer now, so a lost leader costs
// the election plus about 2 s, where nats.go's defaults (30 s pulls, 15 s heartbeats) cost 30 s.
// Recreating the consumer is for when pulling again does not help (the consumer is gone): after
// recreateAfterMisses misses in a row, about 30 s, or at once when the iterator ends.
const (
	pullExpiry          = 5 * time.Second
	pullHeartbeat       = time.Second
	recreateAfterMisses = 15
	// recreateTimeout bounds one attempt to recreate the consumer: during an election the
	// request may reach a server that cannot answer, and the next attempt may reach one that can.
	recreateTimeout = 2 * time.Second
)

// loop takes messages from the server into mailboxes. It never waits for a worker: a message
// is held (and kept alive) from the moment it arrives, and MaxAckPending bounds how many.
func (c *Consumer) loop() {
	defer close(c.loopDone)
	misses := 0
	for {
		c.iterMu.Lock()
		iter := c.iter
		c.iterMu.Unlock()
		jm, err := iter.Next()
		if err == nil {
			misses = 0
			c.enqueue(jm)
			continue
		}
		if c.stopped() || c.rt.nc.IsClosed() {
			return
		}
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// The next Next pulls again (the iterator forgot what it had asked for).
			if misses++; misses < recreateAfterMisses {
				c.rt.log.Debug("consumer heartbeat missed; pulling again", "consumer", c.spec.Durable, "misses", misses)
				continue
			}
			c.rt.log.Warn("consumer stopped receiving; recreating it", "consumer", c.spec.Durable, "error", err, "misses", misses)
		} else {
			// The iterator ended on its own: the consumer was deleted or the server refused the
			// pull. Recreate it rather than going quietly deaf.
			c.rt.log.Warn("consumer stopped receiving; recreating it", "consumer", c.spec.Durable, "error", err)
		}
		misses = 0
		if !c.reopen() {
			return
		}
	}
}

func (c *Consumer) reopen() bool {
	wait := 100 * time.Millisecond
	for {
		select {
		case <-c.stopCh:
			return false
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(c.rt.ctx, recreateTimeout)
		iter, err := c.open(ctx)
		cancel()
		if err == nil {
			c.iterMu.Lock()
			defer c.iterMu.Unlock()
			if c.stopped() {
				iter.Stop()
				return false
			}
			// The old iterator may still be pulling (a recreate after missed heartbeats): two
			// would share the consumer's MaxAckPending for nothing.
			c.iter.Stop()
			c.iter = iter
			return true
		}
		c.rt.log.Warn("recreating consumer failed", "consumer", c.spec.Durable, "error", err)
		wait = min(2*wait, 5*time.Second)
	}
}

func (c *Consumer) stopped() bool {
	select {
	case <-c.stopCh:
		return true
	default:
		return false
	}
}

func (c *Consumer) toMsg(jm jetstream.Msg) *Msg {
	m := &Msg{Kind: KindEvent, Service: c.service, Name: c.spec.Durable, Subject: jm.Subject(),
		Header: jm.Headers(), Data: jm.Data(), Stream: c.spec.Stream.Name, js: jm}
	if md, err := jm.Metadata(); err == nil {
		m.Sequence, m.Deliveries = md.Sequence.Stream, md.NumDelivered
		if md.NumDelivered > 1 {
			c.rt.metrics.redeliv.WithLabelValues(c.service, c.spec.Durable).Inc()
		}
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	return m
}

// result is what became of a delivery that a worker processed.
type result int

const (
	settled result = iota // it left the consumer's hands: acked, naked or dead-lettered
	retry                 // it failed and is retried in place after a delay
	parked                // it waits for an earlier message of its key (see NotYet)
)

// process handles one delivery; for a retry it returns the delay before it.
func (c *Consumer) process(d *delivery) (result, time.Duration) {
	if c.skip(d) {
		return settled, 0
	}
	return c.settle(d, c.run(c.rt.ctx, d))
}

// skip settles, without running the handler, a delivery that must not run: a replay meant for
// another consumer, or one past MaxDeliver.
func (c *Consumer) skip(d *delivery) bool {
	if to := d.msg.Header.Get(HeaderReplayFor); to != "" && to != c.spec.Durable {
		// A replay meant for another consumer of this stream; this one handled the original.
		c.ack(d)
		return true
	}
	if d.deliveries > uint64(c.spec.MaxDeliver) {
		c.deadLetter(d, contracts.ErrDeliveriesExhausted.Msg(
			"delivered %d times without an ack: the consumer crashed or hung on every delivery", d.deliveries-1), int(d.deliveries-1))
		return true
	}
	return false
}

// processBatch handles ds in one Batch (see WithBatch): the handlers run in order inside it,
// it commits, and only then is each delivery settled by its handler's result (a failed commit
// fails the runs that had succeeded).
func (c *Consumer) processBatch(ds []*delivery) ([]result, []time.Duration) {
	res := make([]result, len(ds))
	delays := make([]time.Duration, len(ds))
	errs := make([]error, len(ds))
	ran := make([]bool, len(ds))
	runs := false
	for i, d := range ds {
		if ran[i] = !c.skip(d); ran[i] {
			runs = true
		}
	}
	if runs {
		ctx, b, err := c.cfg.beginBatch(c.rt.ctx)
		ok := false
		for i, d := range ds {
			if !ran[i] {
				continue
			}
			if err != nil {
				errs[i] = err
				continue
			}
			if errs[i] = c.run(ctx, d); errs[i] == nil {
				ok = true
			}
		}
		switch {
		case err != nil:
		case ok:
			if cerr := b.Commit(context.WithoutCancel(ctx)); cerr != nil {
				for i := range ds {
					if ran[i] && errs[i] == nil {
						errs[i] = cerr
					}
				}
			}
		default:
			b.Rollback(context.WithoutCancel(ctx))
		}
	}
	for i, d := range ds {
		if ran[i] {
			res[i], delays[i] = c.settle(d, errs[i])
		}
	}
	return res, delays
}

// settle acts on a handler's result; for a retry it returns the delay before it.
func (c *Consumer) settle(d *delivery, err error) (result, time.Duration) {
	switch {
	case err == nil:
		c.ack(d)
		return settled, 0
	case c.rt.ctx.Err() != nil:
		// Shutting down past the drain budget: the failure says nothing about the message.
		_ = d.js.Nak()
		return settled, 0
	case c.cfg.key != nil && isNotYet(err):
		// Not a failure: no attempt is counted, and the key's later messages go on.
		return parked, 0
	case isPermanent(err) || d.attempt >= c.spec.MaxDeliver:
		c.deadLetter(d, err, d.attempt)
		return settled, 0
	}
	delay := c.backoff(d.attempt)
	if c.cfg.key == nil {
		_ = d.js.NakWithDelay(delay)
		return settled, 0
	}
	d.attempt++
	d.msg.Deliveries = uint64(d.attempt)
	return retry, delay
}

func (c *Consumer) ack(d *delivery) {
	if err := d.js.Ack(); err != nil {
		c.rt.log.Warn("ack failed; the message will come back and the inbox absorbs it", "consumer", c.spec.Durable, "seq", d.msg.Sequence, "error", err)
	}
}

func (c *Consumer) run(parent context.Context, d *delivery) error {
	ctx, cancel := context.WithTimeout(parent, c.cfg.handlerTimeout)
	defer cancel()
	if c.cfg.key != nil {
		ctx = context.WithValue(ctx, keyOrderKey{}, d.gapOK)
	}
	_, err := c.h(ctx, d.msg)
	return err
}

func (c *Consumer) backoff(attempt int) time.Duration {
	b := c.spec.Backoff
	if attempt-1 < len(b) {
		return b[max(attempt-1, 0)]
	}
	return b[len(b)-1]
}

// isPermanent reports errors that redelivery cannot fix.
func isPermanent(err error) bool {
	var p permanent
	if errors.As(err, &p) {
		return true
	}
	var ce *contracts.Error
	return errors.As(err, &ce) && ce.Kind == contracts.KindInvalid
}
