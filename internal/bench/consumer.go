package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// benchStream is file-backed like Moa's real streams.
var benchStream = contracts.StreamSpec{
	Name: "MOABENCH", Description: "benchmark events", Subjects: []string{"evt.bench.>"},
	Storage: contracts.FileStorage, Replicas: 1, Retention: contracts.LimitsRetention,
	MaxAge: time.Hour, Duplicates: time.Minute,
}

// EvItem is the benchmark event: a Moa envelope around a 256-byte JSON payload.
var EvItem = contracts.Event[Payload]{Stream: benchStream, Domain: "bench", Name: "item", Version: 1}

// keys is how many actor keys the events are spread over.
const keys = 64

// Consumers is the durable-consumer benchmark: one stream preloaded with events, drained by
// a fresh durable consumer per run.
type Consumers struct {
	nc      *nats.Conn
	rt      *bus.Runtime
	js      jetstream.JetStream
	payload Payload
	seq     atomic.Int64
}

// NewConsumers creates the stream and preloads n events.
func NewConsumers(ctx context.Context, env *Env, n int) (*Consumers, error) {
	nc, err := env.Connect("bench-consumers")
	if err != nil {
		return nil, err
	}
	rt, err := bus.New(nc, bus.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Consumers{nc: nc, rt: rt, js: rt.JetStream(), payload: NewPayload()}
	if err := rt.EnsureStreams(ctx, benchStream); err != nil {
		c.Close()
		return nil, err
	}
	// In batches: a loaded machine otherwise stalls the async publisher.
	for i := 0; i < n; i++ {
		msg, err := c.eventMsg(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		if _, err := c.js.PublishMsgAsync(msg); err != nil {
			c.Close()
			return nil, err
		}
		if i%500 == 499 || i == n-1 {
			select {
			case <-c.js.PublishAsyncComplete():
			case <-ctx.Done():
				c.Close()
				return nil, ctx.Err()
			}
		}
	}
	return c, nil
}

func (c *Consumers) eventMsg(ctx context.Context) (*nats.Msg, error) {
	i := c.seq.Add(1)
	env, subject, err := bus.NewEnvelope(ctx, nil, "bench", EvItem, fmt.Sprintf("k%d", i%keys), c.payload)
	if err != nil {
		return nil, err
	}
	return bus.EnvelopeMsg(subject, env)
}

// Close deletes nothing (the store is the Env's) and closes the connection.
func (c *Consumers) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.rt.Close(ctx, false)
	c.nc.Close()
}

// probe counts handled events and, in the latency phase, signals each one.
type probe struct {
	handled atomic.Int64
	signal  atomic.Bool
	seen    chan struct{}
}

func newProbe() *probe { return &probe{seen: make(chan struct{}, 1)} }

func (p *probe) hit() {
	p.handled.Add(1)
	if p.signal.Load() {
		p.seen <- struct{}{}
	}
}

// measure drains the stream (Ops, Elapsed) and then times samples single events from publish
// to handler (Lat). start begins consuming; it is called once the target is known.
func (c *Consumers) measure(ctx context.Context, p *probe, samples int, start func() error) (Sample, error) {
	info, err := c.js.Stream(ctx, benchStream.Name)
	if err != nil {
		return Sample{}, err
	}
	target := int64(info.CachedInfo().State.Msgs)
	cpu0 := cpuTime()
	t0 := time.Now()
	if err := start(); err != nil {
		return Sample{}, err
	}
	for p.handled.Load() < target {
		if ctx.Err() != nil {
			return Sample{}, fmt.Errorf("drained %d of %d: %w", p.handled.Load(), target, ctx.Err())
		}
		time.Sleep(200 * time.Microsecond) // polling the counter, bounded by ctx
	}
	s := Sample{Ops: int(target), Elapsed: time.Since(t0), CPU: cpuTime() - cpu0}
	p.signal.Store(true)
	for i := 0; i < samples; i++ {
		msg, err := c.eventMsg(ctx)
		if err != nil {
			return s, err
		}
		t := time.Now()
		if _, err := c.js.PublishMsg(ctx, msg); err != nil {
			return s, err
		}
		select {
		case <-p.seen:
			s.Lat = append(s.Lat, time.Since(t))
		case <-ctx.Done():
			return s, errors.New("latency probe: event not handled before the deadline")
		}
	}
	return s, nil
}

func decodeRaw(data []byte) error {
	var env contracts.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return err
	}
	var p Payload
	return json.Unmarshal(env.Data, &p)
}

// Raw drains the stream with jetstream's Consume (its defaults) and an explicit Ack per
// message after decoding the envelope and the payload.
func (c *Consumers) Raw(ctx context.Context, durable string, samples int) (Sample, error) {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, benchStream.Name, jetstream.ConsumerConfig{
		Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return Sample{}, err
	}
	defer func() { _ = c.js.DeleteConsumer(context.Background(), benchStream.Name, durable) }()
	p := newProbe()
	var cc jetstream.ConsumeContext
	s, err := c.measure(ctx, p, samples, func() error {
		var err error
		cc, err = cons.Consume(func(m jetstream.Msg) {
			if decodeRaw(m.Data()) != nil {
				_ = m.Term()
				return
			}
			_ = m.Ack()
			p.hit()
		})
		return err
	})
	if cc != nil {
		cc.Stop()
	}
	return s, err
}

// Typed drains the stream with rt.Consume and a typed bus.OnEvent handler.
func (c *Consumers) Typed(ctx context.Context, durable string, samples int, opts ...bus.ConsumeOption) (Sample, error) {
	p := newProbe()
	h := bus.OnEvent(EvItem, func(context.Context, bus.Event[Payload]) error { p.hit(); return nil })
	var cons *bus.Consumer
	s, err := c.measure(ctx, p, samples, func() error {
		var err error
		cons, err = c.rt.Consume(ctx, "bench", contracts.ConsumerSpec{Stream: benchStream, Durable: durable}, h, opts...)
		return err
	})
	if cons != nil {
		cons.Stop()
	}
	_ = c.js.DeleteConsumer(context.Background(), benchStream.Name, durable)
	return s, err
}
