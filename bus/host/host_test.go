package host_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// events records what happened, in order, from any goroutine.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) { e.mu.Lock(); e.log = append(e.log, s); e.mu.Unlock() }
func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

// A request being handled when the service is stopped is answered, and only then do the jobs
// stop and the closers release what the handler uses: stopping drains, it does not cut.
func TestStopDrainsRequestsThenJobsThenReleases(t *testing.T) {
	ns := moatest.NATS(t)
	rt, err := bus.New(ns.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background(), false) })
	spec := contracts.Service{Name: "hosttest", Version: "1.0.0", Major: 1}
	var ev events
	started, release := make(chan struct{}), make(chan struct{})
	var releaseOnce, startOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the runtime's Close, which waits for the handler
	comp, err := host.Start(t.Context(), bus.Env{Runtime: rt}, host.Service{
		Spec: spec,
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			return host.Parts{
				Endpoints: func(svc *bus.Service) error {
					return svc.HandleRaw("slow", 30*time.Second, nil, func(ctx context.Context, m *bus.Msg) ([]byte, error) {
						startOnce.Do(func() { close(started) })
						<-release
						ev.add("request answered")
						return []byte(`"ok"`), nil
					})
				},
				Jobs: []*bus.Job{bus.Every("wait", time.Hour, func(ctx context.Context) error {
					<-ctx.Done()
					ev.add("job stopped")
					return nil
				}).Immediately()},
				Closers: []func(context.Context) error{func(context.Context) error { ev.add("released"); return nil }},
			}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	nc := ns.Conn(t)
	reply := make(chan error, 1)
	go func() {
		_, err := nc.Request(spec.Prefix()+".slow", []byte(`{}`), 30*time.Second)
		reply <- err
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- comp.Stop(context.Background()) }()
	// Once the service takes no new request, it is stopping: the request it took is still held.
	moatest.Eventually(t, 10*time.Second, func() bool {
		m, err := nc.Request(spec.Prefix()+".slow", []byte(`{}`), time.Second)
		return err == nats.ErrNoResponders || (err == nil && m.Header.Get("Nats-Service-Error-Code") != "")
	}, "the stopping service refuses new requests")
	if got := ev.list(); len(got) != 0 {
		t.Fatalf("while a request was in flight, the host already did %v", got)
	}
	unblock()
	if err := <-reply; err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	want := []string{"request answered", "job stopped", "released"}
	if got := ev.list(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("stop order = %v, want %v", got, want)
	}
}

// A start that fails halfway releases what it acquired, and what it did not start stays
// unstarted.
func TestFailedStartReleases(t *testing.T) {
	ns := moatest.NATS(t)
	rt, err := bus.New(ns.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background(), false) })
	var ev events
	_, err = host.Start(t.Context(), bus.Env{Runtime: rt}, host.Service{
		Spec: contracts.Service{Name: "hostfail", Version: "1.0.0", Major: 1},
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			return host.Parts{
				Endpoints: func(*bus.Service) error { return contracts.ErrInternal.Msg("no endpoints today") },
				Jobs: []*bus.Job{bus.Every("never", time.Hour, func(context.Context) error {
					ev.add("job ran")
					return nil
				}).Immediately()},
				Closers: []func(context.Context) error{func(context.Context) error { ev.add("released"); return nil }},
			}, nil
		},
	})
	if err == nil {
		t.Fatal("Start succeeded with failing endpoints")
	}
	if got := ev.list(); len(got) != 1 || got[0] != "released" {
		t.Fatalf("after a failed start: %v, want only [released]", got)
	}
}
