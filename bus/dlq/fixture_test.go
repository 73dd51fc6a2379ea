package dlq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/dlq"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

var stream = contracts.StreamSpec{
	Name: "DLQTEST", Subjects: []string{"evt.dlqtest.>"}, Storage: contracts.FileStorage, Replicas: 1,
	MaxAge: time.Hour, Duplicates: time.Minute,
}

type order struct {
	N int `json:"n"`
}

var placed = contracts.Event[order]{Stream: stream, Domain: "dlqtest", Name: "placed", Version: 1}

// fixture: two consumers of one stream. "billing" fails every odd order until fixed; "mailer"
// always succeeds. Both record what they handled, by event id.
type fixture struct {
	t       *testing.T
	nc      *nats.Conn
	rt      *bus.Runtime
	fixed   atomic.Bool
	mu      sync.Mutex
	handled map[string]map[string]int // consumer -> event id -> runs
	envs    []contracts.Envelope
}

func newFixture(t *testing.T) *fixture {
	srv := moatest.NATS(t)
	f := &fixture{t: t, nc: srv.Conn(t), handled: map[string]map[string]int{"billing": {}, "mailer": {}}}
	rt, err := bus.New(f.nc, bus.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	f.rt = rt
	if err := rt.EnsureStreams(f.ctx(), stream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"billing", "mailer"} {
		h := bus.OnEvent(placed, func(ctx context.Context, e bus.Event[order]) error {
			if name == "billing" && e.Data.N%2 == 1 && !f.fixed.Load() {
				return bus.Permanent(errors.New("card processor rejected order " + strconv.Itoa(e.Data.N)))
			}
			f.mu.Lock()
			f.handled[name][e.ID]++
			f.mu.Unlock()
			return nil
		})
		if _, err := rt.Consume(f.ctx(), "test", contracts.ConsumerSpec{Stream: stream, Durable: name}, h); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	f.t.Cleanup(cancel)
	return ctx
}

func (f *fixture) emit(n int) {
	env, err := bus.Emit(f.ctx(), f.rt, "test", placed, "o"+strconv.Itoa(n), order{N: n})
	if err != nil {
		f.t.Fatal(err)
	}
	f.envs = append(f.envs, env)
}

func (f *fixture) runs(consumer, id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handled[consumer][id]
}

func (f *fixture) total(consumer string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, v := range f.handled[consumer] {
		n += v
	}
	return n
}

func (f *fixture) run(args ...string) (string, error) {
	var out bytes.Buffer
	err := dlq.Run(f.ctx(), f.nc, args, &out)
	return out.String(), err
}

func (f *fixture) letters(args ...string) []dlq.Letter {
	f.t.Helper()
	out, err := f.run(append([]string{"ls", "--json"}, args...)...)
	if err != nil {
		f.t.Fatal(err)
	}
	var ls []dlq.Letter
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		f.t.Fatalf("ls --json: %v\n%s", err, out)
	}
	return ls
}

// deadLettered emits orders 0..n-1 and waits until billing dead-lettered the odd ones.
func (f *fixture) deadLettered(n int) {
	for i := range n {
		f.emit(i)
	}
	moatest.Eventually(f.t, 20*time.Second, func() bool { return len(f.letters()) == n/2 && f.total("mailer") == n }, "odd orders dead-lettered")
}
