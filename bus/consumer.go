package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// Consumer runs a handler over a durable JetStream consumer.
//
// Contract: every message gets its own context (the runtime's, with the handler timeout) and
// is acked only after the handler returned nil. A failed message is redelivered after the
// spec's backoff; after MaxDeliver deliveries, or at once for a permanent error, it is moved to
// the dead-letter stream and terminated, so a poison message never blocks the ones behind it.
// While a handler runs, the runtime keeps the message alive with InProgress, so AckWait only
// bounds how fast a crashed instance's messages come back, not how long a handler may take.
//
// With [WithKey], the consumer is a set of actors: messages with the same key are handled one at
// a time in stream order (a failing message is retried in place, holding its key's mailbox,
// until it succeeds or is dead-lettered), while different keys run in parallel up to the
// concurrency bound.
type Consumer struct {
	rt      *Runtime
	service string
	spec    contracts.ConsumerSpec
	cfg     consumeConfig
	h       Handler
	iter    jetstream.MessagesContext
	slots   chan struct{}

	mu        sync.Mutex
	mailboxes map[string][]*delivery
	pending   map[*delivery]struct{} // taken from the server, not yet acked/naked
	workers   sync.WaitGroup
	loopDone  chan struct{}
	stopOnce  sync.Once
	stopTick  chan struct{}
}

// delivery is one message in the consumer's hands.
type delivery struct {
	js  jetstream.Msg
	msg *Msg
}

type consumeConfig struct {
	concurrency    int
	key            func(*Msg) string
	mws            []Middleware
	handlerTimeout time.Duration
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
	spec = ConsumerDefaults(spec)
	cfg := consumeConfig{concurrency: 1, handlerTimeout: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	jcfg := jetstream.ConsumerConfig{
		Durable:        spec.Durable,
		FilterSubjects: spec.FilterSubjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        spec.AckWait,
		MaxDeliver:     spec.MaxDeliver,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxAckPending:  max(256, cfg.concurrency*8),
	}
	jc, err := r.js.CreateOrUpdateConsumer(ctx, spec.Stream.Name, jcfg)
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s on %s: %w", spec.Durable, spec.Stream.Name, err)
	}
	c := &Consumer{
		rt: r, service: service, spec: spec, cfg: cfg,
		h:         r.chain(Chain(h, cfg.mws...)),
		slots:     make(chan struct{}, cfg.concurrency),
		mailboxes: map[string][]*delivery{},
		pending:   map[*delivery]struct{}{},
		loopDone:  make(chan struct{}),
		stopTick:  make(chan struct{}),
	}
	iter, err := jc.Messages(jetstream.PullMaxMessages(max(16, cfg.concurrency*2)))
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s: %w", spec.Durable, err)
	}
	c.iter = iter
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		iter.Stop()
		return nil, errors.New("bus: runtime closed")
	}
	r.consumers = append(r.consumers, c)
	r.mu.Unlock()
	go c.loop()
	go c.keepAlive()
	return c, nil
}

// loop takes messages from the server and hands them to workers. Waiting for a free slot here
// is the consumer's backpressure: it stops pulling while every worker is busy.
func (c *Consumer) loop() {
	defer close(c.loopDone)
	for {
		jm, err := c.iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			c.rt.log.Warn("consumer fetch", "consumer", c.spec.Durable, "error", err)
			continue
		}
		d := &delivery{js: jm, msg: c.toMsg(jm)}
		c.mu.Lock()
		c.pending[d] = struct{}{}
		c.mu.Unlock()
		c.dispatch(d)
	}
}

func (c *Consumer) toMsg(jm jetstream.Msg) *Msg {
	m := &Msg{Kind: KindEvent, Service: c.service, Name: c.spec.Durable, Subject: jm.Subject(),
		Header: jm.Headers(), Data: jm.Data(), Stream: c.spec.Stream.Name, js: jm}
	if md, err := jm.Metadata(); err == nil {
		m.Sequence, m.Deliveries = md.Sequence.Stream, md.NumDelivered
	}
	if m.Header == nil {
		m.Header = map[string][]string{}
	}
	return m
}

func (c *Consumer) dispatch(d *delivery) {
	if c.cfg.key == nil {
		c.slots <- struct{}{}
		c.workers.Add(1)
		go func() {
			defer func() { <-c.slots; c.workers.Done() }()
			c.handle(d, false)
		}()
		return
	}
	key := c.cfg.key(d.msg)
	c.mu.Lock()
	if q, busy := c.mailboxes[key]; busy {
		c.mailboxes[key] = append(q, d)
		c.mu.Unlock()
		return
	}
	c.mailboxes[key] = nil
	c.mu.Unlock()
	c.slots <- struct{}{}
	c.workers.Add(1)
	go func() {
		defer func() { <-c.slots; c.workers.Done() }()
		for d != nil {
			c.handle(d, true)
			c.mu.Lock()
			if q := c.mailboxes[key]; len(q) > 0 {
				d, c.mailboxes[key] = q[0], q[1:]
			} else {
				delete(c.mailboxes, key)
				d = nil
			}
			c.mu.Unlock()
		}
	}()
}

// handle runs the handler for one delivery and settles it. inPlace retries keep per-key order.
func (c *Consumer) handle(d *delivery, inPlace bool) {
	defer func() {
		c.mu.Lock()
		delete(c.pending, d)
		c.mu.Unlock()
	}()
	attempt := int(d.msg.Deliveries)
	for {
		err := c.run(d)
		if err == nil {
			if aerr := d.js.Ack(); aerr != nil {
				c.rt.log.Warn("ack failed; the message will come back and the inbox absorbs it", "consumer", c.spec.Durable, "seq", d.msg.Sequence, "error", aerr)
			}
			return
		}
		if isPermanent(err) || attempt >= c.spec.MaxDeliver {
			c.deadLetter(d, err, attempt)
			return
		}
		delay := c.backoff(attempt)
		if !inPlace {
			_ = d.js.NakWithDelay(delay)
			return
		}
		select {
		case <-time.After(delay):
		case <-c.rt.ctx.Done():
			_ = d.js.Nak()
			return
		}
		attempt++
		d.msg.Deliveries = uint64(attempt)
	}
}

func (c *Consumer) run(d *delivery) error {
	ctx, cancel := context.WithTimeout(c.rt.ctx, c.cfg.handlerTimeout)
	defer cancel()
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

// keepAlive extends the ack deadline of every message the consumer holds (running or waiting
// in a mailbox), so the server does not redeliver work that is merely queued or slow.
func (c *Consumer) keepAlive() {
	t := time.NewTicker(max(c.spec.AckWait/3, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stopTick:
			return
		case <-t.C:
			c.mu.Lock()
			held := make([]*delivery, 0, len(c.pending))
			for d := range c.pending {
				held = append(held, d)
			}
			c.mu.Unlock()
			for _, d := range held {
				_ = d.js.InProgress()
			}
		}
	}
}

func (c *Consumer) stopFetching() {
	c.stopOnce.Do(func() { c.iter.Stop() })
}

// wait returns when the fetch loop and every worker are done.
func (c *Consumer) wait() {
	<-c.loopDone
	c.workers.Wait()
	select {
	case <-c.stopTick:
	default:
		close(c.stopTick)
	}
}

// Stop stops taking messages and waits for running handlers.
func (c *Consumer) Stop() {
	c.stopFetching()
	c.wait()
}
