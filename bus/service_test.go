package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

var echoSvc = contracts.Service{Name: "echo", Version: "1.0.0", Major: 1, Description: "test echo"}

type echoReq struct {
	Text  string `json:"text"`
	Times int    `json:"times,omitempty"`
}

func (r echoReq) Validate() error {
	if r.Times < 0 {
		return contracts.ErrValidation.OnField("times", "times must not be negative")
	}
	return nil
}

type echoResp struct {
	Text string `json:"text"`
}

var (
	epEcho     = contracts.Endpoint[echoReq, echoResp]{Service: echoSvc, Name: "say", Timeout: 2 * time.Second}
	epPanic    = contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: echoSvc, Name: "panic"}
	epDeadline = contracts.Endpoint[contracts.Empty, echoResp]{Service: echoSvc, Name: "deadline"}
	epNotFound = contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: echoSvc, Name: "missing"}
)

func startEcho(t *testing.T, rt *bus.Runtime) {
	t.Helper()
	svc, err := rt.AddService(echoSvc)
	if err != nil {
		t.Fatal(err)
	}
	must(t, bus.Handle(svc, epEcho, func(ctx context.Context, r echoReq) (echoResp, error) {
		return echoResp{Text: strings.Repeat(r.Text, max(r.Times, 1))}, nil
	}))
	must(t, bus.Handle(svc, epPanic, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		panic("boom")
	}))
	must(t, bus.Handle(svc, epDeadline, func(ctx context.Context, _ contracts.Empty) (echoResp, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return echoResp{}, errors.New("no deadline")
		}
		return echoResp{Text: time.Until(d).Round(100 * time.Millisecond).String()}, nil
	}))
	must(t, bus.Handle(svc, epNotFound, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		return contracts.Empty{}, contracts.ErrNotFound.Msg("nothing here")
	}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTypedCallRoundTrip(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	resp, err := bus.Call(context.Background(), rt.Client(), epEcho, echoReq{Text: "ab", Times: 2})
	if err != nil || resp.Text != "abab" {
		t.Fatalf("got %+v, %v", resp, err)
	}
}

func TestErrorsCrossTheWireTyped(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	_, err := bus.Call(context.Background(), rt.Client(), epNotFound, contracts.Empty{})
	if !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("want not_found, got %v", err)
	}
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Message != "nothing here" || ce.Kind != contracts.KindNotFound {
		t.Fatalf("errors.As: %+v", ce)
	}
}

// rawRequest sends bytes the typed client would never send.
func rawRequest(t *testing.T, nc *nats.Conn, subject string, data []byte) *nats.Msg {
	t.Helper()
	m, err := nc.Request(subject, data, 2*time.Second)
	if err != nil {
		t.Fatalf("raw request to %s: %v (a bad request must get an error reply, not a timeout)", subject, err)
	}
	return m
}

func TestBadInputGetsCodedErrors(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	nc := connect(t, url)
	cases := []struct {
		name, body, code, field string
	}{
		{"malformed", `{"text":`, "bad_request", ""},
		{"not an object", `[1,2]`, "bad_request", ""},
		{"missing required", `{"times":1}`, "validation_failed", "text"},
		{"unknown field", `{"text":"a","colour":"red"}`, "unknown_field", "colour"},
		{"wrong type", `{"text":5}`, "validation_failed", "text"},
		{"validate", `{"text":"a","times":-1}`, "validation_failed", "times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := rawRequest(t, nc, epEcho.Subject(), []byte(c.body))
			if got := m.Header.Get(micro.ErrorCodeHeader); got != c.code {
				t.Fatalf("code header %q, want %q (body %s)", got, c.code, m.Data)
			}
			var ce contracts.Error
			must(t, json.Unmarshal(m.Data, &ce))
			if ce.Code != c.code || ce.Field != c.field {
				t.Fatalf("got %+v, want code %s field %q", ce, c.code, c.field)
			}
		})
	}
}

func TestPanicIsAnErrorReplyAndServiceKeepsServing(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	for i := 0; i < 3; i++ {
		_, err := bus.Call(context.Background(), rt.Client(), epPanic, contracts.Empty{})
		if !errors.Is(err, contracts.ErrPanic) {
			t.Fatalf("want handler_panic, got %v", err)
		}
	}
	if _, err := bus.Call(context.Background(), rt.Client(), epEcho, echoReq{Text: "still here"}); err != nil {
		t.Fatalf("service stopped serving after a panic: %v", err)
	}
	if got := counterValue(t, rt, "moa_handler_panics_total"); got != 3 {
		t.Fatalf("panic metric = %v, want 3", got)
	}
}

func TestDeadlineCrossesTheWire(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	resp, err := bus.Call(ctx, rt.Client(), epDeadline, contracts.Empty{})
	must(t, err)
	if resp.Text != "1.5s" {
		t.Fatalf("handler saw %s left, want 1.5s", resp.Text)
	}
	// Without a caller deadline the endpoint default applies (5s for epDeadline).
	resp, err = bus.Call(context.Background(), rt.Client(), epDeadline, contracts.Empty{})
	must(t, err)
	if resp.Text != "5s" {
		t.Fatalf("handler saw %s left, want the 5s default", resp.Text)
	}
}

func TestNoRespondersIsToldApartFromTimeout(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	_, err := bus.Call(context.Background(), rt.Client(), epEcho, echoReq{Text: "x"})
	if !errors.Is(err, contracts.ErrNoResponders) {
		t.Fatalf("want no_responders, got %v", err)
	}
}

func TestPayloadOverServerMaxIsAClearError(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	big := strings.Repeat("x", int(rt.Conn().MaxPayload()))
	_, err := bus.Call(context.Background(), rt.Client(), epEcho, echoReq{Text: big})
	if !errors.Is(err, contracts.ErrPayloadTooBig) {
		t.Fatalf("want payload_too_large, got %v", err)
	}
	// A reply over the limit is an error reply, not silence.
	_, err = bus.Call(context.Background(), rt.Client(), epEcho, echoReq{Text: strings.Repeat("y", 1000), Times: 2000})
	if !errors.Is(err, contracts.ErrPayloadTooBig) {
		t.Fatalf("oversized reply: want payload_too_large, got %v", err)
	}
}

// TestServicesAreDiscoverable finds the service through $SRV.PING and $SRV.INFO the way the
// NATS CLI does, and asserts its endpoints.
func TestServicesAreDiscoverable(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	nc := connect(t, url)
	ping := rawRequest(t, nc, "$SRV.PING.echo", nil)
	var p micro.Ping
	must(t, json.Unmarshal(ping.Data, &p))
	if p.Name != "echo" || p.Version != "1.0.0" {
		t.Fatalf("ping: %+v", p)
	}
	infoMsg := rawRequest(t, nc, "$SRV.INFO.echo", nil)
	var info micro.Info
	must(t, json.Unmarshal(infoMsg.Data, &info))
	got := map[string]string{}
	for _, e := range info.Endpoints {
		got[e.Name] = e.Subject
	}
	for _, ep := range []contracts.Describer{epEcho, epPanic, epDeadline, epNotFound} {
		i := ep.Info()
		if got[i.Name] != i.Subject {
			t.Fatalf("endpoint %s: subject %q, want %q (all: %v)", i.Name, got[i.Name], i.Subject, got)
		}
	}
	statsMsg := rawRequest(t, nc, "$SRV.STATS.echo", nil)
	var stats micro.Stats
	must(t, json.Unmarshal(statsMsg.Data, &stats))
	if len(stats.Endpoints) != 4 {
		t.Fatalf("stats endpoints: %d", len(stats.Endpoints))
	}
}

func TestReplicasShareWork(t *testing.T) {
	url := startNATS(t)
	a, b := newRuntime(t, url), newRuntime(t, url)
	startEcho(t, a)
	startEcho(t, b)
	caller := newRuntime(t, url)
	for i := 0; i < 200; i++ {
		_, err := bus.Call(context.Background(), caller.Client(), epEcho, echoReq{Text: "x"})
		must(t, err)
	}
	na := counterValue(t, a, "moa_handled_total")
	nb := counterValue(t, b, "moa_handled_total")
	if na+nb != 200 || na == 0 || nb == 0 {
		t.Fatalf("queue group split %v/%v, want both > 0 and sum 200", na, nb)
	}
}

var epWhoAmI = contracts.Endpoint[contracts.Empty, echoResp]{Service: contracts.Service{Name: "who", Version: "1.0.0", Major: 1}, Name: "am_i"}

func TestAuthTokenPropagatesAcrossHops(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	svc, err := rt.AddService(epWhoAmI.Service)
	must(t, err)
	must(t, bus.Handle(svc, epWhoAmI, func(ctx context.Context, _ contracts.Empty) (echoResp, error) {
		return echoResp{Text: bus.AuthToken(ctx)}, nil
	}))
	hop := contracts.Service{Name: "hop", Version: "1.0.0", Major: 1}
	relay := contracts.Endpoint[contracts.Empty, echoResp]{Service: hop, Name: "relay"}
	svc2, err := rt.AddService(hop)
	must(t, err)
	must(t, bus.Handle(svc2, relay, func(ctx context.Context, _ contracts.Empty) (echoResp, error) {
		return bus.Call(ctx, rt.Client(), epWhoAmI, contracts.Empty{})
	}))
	ctx := bus.WithAuthToken(context.Background(), "tok-123")
	resp, err := bus.Call(ctx, rt.Client(), relay, contracts.Empty{})
	must(t, err)
	if resp.Text != "tok-123" {
		t.Fatalf("second hop saw token %q", resp.Text)
	}
}

func TestServiceStopWaitsForRequestsInFlight(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	slow := contracts.Endpoint[contracts.Empty, echoResp]{Service: contracts.Service{Name: "slow", Version: "1.0.0", Major: 1}, Name: "work"}
	svc, err := rt.AddService(slow.Service)
	must(t, err)
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	must(t, bus.Handle(svc, slow, func(ctx context.Context, _ contracts.Empty) (echoResp, error) {
		close(started)
		<-release
		finished.Store(true)
		return echoResp{Text: "done"}, nil
	}))
	caller := newRuntime(t, url)
	reply := make(chan error, 1)
	go func() {
		_, err := bus.Call(context.Background(), caller.Client(), slow, contracts.Empty{})
		reply <- err
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- svc.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a request was still being handled", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	must(t, <-stopped)
	if !finished.Load() {
		t.Fatal("Stop returned before the handler finished")
	}
	if err := <-reply; err != nil {
		t.Fatalf("the request in flight was not answered: %v", err)
	}
	if _, err := bus.Call(context.Background(), caller.Client(), slow, contracts.Empty{}); !errors.Is(err, contracts.ErrNoResponders) && !errors.Is(err, contracts.ErrUnavailable) {
		t.Fatalf("after Stop: %v", err)
	}
}
