package system_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

var (
	pingService = contracts.Service{Name: "ping", Version: "0.1.0", Major: 1, Description: "test service"}
	pingPing    = contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: pingService, Name: "ping"}
)

// journal records what the test services did, in order.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	j.entries = append(j.entries, e)
	j.mu.Unlock()
}

func (j *journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.entries, " ")
}

func pingStart(j *journal) bus.StartFunc {
	return func(_ context.Context, env bus.Env) (bus.Component, error) {
		j.add("start ping")
		svc, err := env.Runtime.AddService(pingService)
		if err != nil {
			return nil, err
		}
		return nil, bus.Handle(svc, pingPing, func(context.Context, contracts.Empty) (contracts.Empty, error) {
			return contracts.Empty{}, nil
		})
	}
}

// front is a web front like the edge: an HTTP handler that calls a service.
type front struct {
	http.Handler
	j  *journal
	rt *bus.Runtime
}

// Stop records whether the service it calls still answered when it was stopped.
func (f front) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := bus.Call(ctx, f.rt.Client(), pingPing, contracts.Empty{}); err != nil {
		f.j.add("stop front (ping: " + err.Error() + ")")
	} else {
		f.j.add("stop front (ping answers)")
	}
	return nil
}

func frontStart(j *journal) bus.StartFunc {
	return func(ctx context.Context, env bus.Env) (bus.Component, error) {
		if _, err := bus.Call(ctx, env.Runtime.Client(), pingPing, contracts.Empty{}); err != nil {
			j.add("start front (ping: " + err.Error() + ")")
		} else {
			j.add("start front (ping answers)")
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("web app")) })
		return front{Handler: h, j: j, rt: env.Runtime}, nil
	}
}

// A service with a Mount is a front: it starts after the services it calls and stops before
// them, and at "/" it takes the root from the status page, which stays at /status.
func TestFrontIsMountedAndStartsLastStopsFirst(t *testing.T) {
	j := &journal{}
	sys := startSystem(t, system.Config{
		DataDir: t.TempDir(), NATS: system.NATSConfig{URL: moatest.NATS(t).URL()}, HTTPAddr: "127.0.0.1:0",
		Logger: quietLogger(),
		// "a-front" sorts before "ping": the order is the system's doing.
		Registry: map[string]system.Registration{"a-front": {Start: frontStart(j), Mount: "/"}, "ping": {Start: pingStart(j)}},
	})
	base := strings.TrimSuffix(sys.HTTPURL(), "/")
	if code, body := httpGet(t, base+"/"); code != http.StatusOK || body != "web app" {
		t.Errorf("/ = %d %q, want the front's web app", code, body)
	}
	if code, body := httpGet(t, base+"/anything/else"); code != http.StatusOK || body != "web app" {
		t.Errorf("/anything/else = %d %q, want the front (mounted on /)", code, body)
	}
	if code, body := httpGet(t, base+"/status"); code != http.StatusOK || !strings.Contains(body, "web app is at") || !strings.Contains(body, "a-front") {
		t.Errorf("/status = %d %s", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d beside the front", code)
	}
	must(t, sys.Stop(ctxFor(t, time.Minute)), "stop")
	if want := "start ping start front (ping answers) stop front (ping answers)"; j.String() != want {
		t.Errorf("journal %q, want %q", j, want)
	}
}

func TestFrontMustBeAHandler(t *testing.T) {
	_, err := system.Start(ctxFor(t, time.Minute), system.Config{
		DataDir: t.TempDir(), NATS: system.NATSConfig{URL: moatest.NATS(t).URL()}, HTTPAddr: "127.0.0.1:0",
		Logger: quietLogger(),
		Registry: map[string]system.Registration{"web": {Mount: "/", Start: func(context.Context, bus.Env) (bus.Component, error) {
			return bus.Stopper(func(context.Context) error { return nil }), nil
		}}},
	})
	if err == nil || !strings.Contains(err.Error(), "not an http.Handler") {
		t.Fatalf("Start = %v, want an error saying the component is not an http.Handler", err)
	}
}
