package telemetry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/telemetry"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// One subscribe saga, started by a consumer's frame on the edge's WebSocket, is one trace at
// an OTLP/HTTP collector: the edge's call, the subscription endpoint, and every consumer and
// outbox hop of the choreography through catalog, billing and subscription to notify, each
// span under the service.name of the service that made it, every parent in the trace.
func TestSubscribeSagaIsOneExportedTrace(t *testing.T) {
	col := newCollector(t)
	traces, err := telemetry.Setup(context.Background(), telemetry.Config{Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": col.srv.URL,
	})})
	if err != nil {
		t.Fatal(err)
	}
	if !traces.Enabled() || traces.Endpoint() != col.srv.URL+"/v1/traces" {
		t.Fatalf("enabled %v, endpoint %q: want %s/v1/traces", traces.Enabled(), traces.Endpoint(), col.srv.URL)
	}
	t.Cleanup(func() {
		if err := traces.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	sys := systemtest.Boot(t,
		systemtest.Services("auth", "billing", "catalog", "edge", "notify", "subscription"),
		systemtest.Configure(func(c *system.Config) { c.TracerProvider = traces.Provider }))
	c := sys.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	seller := signupLogin(t, ctx, c, "seller@example.test", contracts.RoleSeller)
	product, err := bus.Call(bus.WithAuthToken(ctx, seller), c, contracts.CatalogCreateProduct, contracts.CreateProductRequest{
		Title: "Traced coffee club", PriceAmount: 5900, Currency: "KRW", BillingPeriod: contracts.BillingMonthly,
		Terms: "Cancel any time.", Capacity: 4,
	})
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	buyer := signupLogin(t, ctx, c, "buyer@example.test", contracts.RoleConsumer)

	// The saga starts where an app starts it: a frame on the edge.
	ws := dialEdge(t, sys, buyer)
	var sub contracts.Subscription
	ws.call(t, "subscription.subscribe", contracts.SubscribeRequest{ProductID: product.ID, IdempotencyKey: "traced"}, &sub)
	moatest.WaitFor(t, time.Minute, func() error {
		got, err := bus.Call(bus.WithAuthToken(ctx, buyer), c, contracts.SubscriptionGet, contracts.SubscriptionRef{ID: sub.ID})
		if err != nil {
			return err
		}
		if got.State != contracts.SubActive {
			return fmt.Errorf("subscription %s is %s", sub.ID, got.State)
		}
		return nil
	})

	// The edge's span of the subscribe call is the trace's root; the saga's last hop (notify)
	// ends after the subscription turned active, so wait for the trace to fill in.
	want := []string{"edge", "subscription", "catalog", "billing", "notify"}
	var trace []span
	moatest.WaitFor(t, time.Minute, func() error {
		if err := traces.Flush(ctx); err != nil {
			return err
		}
		root, ok := col.find(func(s span) bool {
			return s.service == "edge" && s.parent == "" && strings.Contains(s.name, "subscribe")
		})
		if !ok {
			return fmt.Errorf("no root span of the edge's subscribe call among %d spans", col.count())
		}
		trace = col.trace(root.traceID)
		for _, svc := range want {
			if !slices.ContainsFunc(trace, func(s span) bool { return s.service == svc }) {
				return fmt.Errorf("trace %s has no span from %s yet (%d spans)", root.traceID, svc, len(trace))
			}
		}
		if !slices.ContainsFunc(trace, func(s span) bool { return s.service == "notify" && s.kind == tracepb.Span_SPAN_KIND_CONSUMER }) {
			return fmt.Errorf("trace %s: notify has not consumed an event of the saga yet", root.traceID)
		}
		// One trace, not pieces: every parent is in it. A parent ends (and is exported) after
		// its children, so a handler still running leaves a gap for a moment.
		ids := map[string]bool{}
		for _, s := range trace {
			ids[s.spanID] = true
		}
		for _, s := range trace {
			if s.parent != "" && !ids[s.parent] {
				return fmt.Errorf("span %q (%s) has parent %s, which is not in the trace", s.name, s.service, s.parent)
			}
		}
		return nil
	})
	if !slices.ContainsFunc(trace, func(s span) bool { return strings.HasPrefix(s.name, "outbox publish ") }) {
		t.Errorf("no outbox relay hop in the trace")
	}
	for _, svc := range []string{"subscription", "catalog", "billing", "notify"} {
		if !slices.ContainsFunc(trace, func(s span) bool { return s.service == svc && s.db && strings.HasPrefix(s.name, "COMMIT ") }) {
			t.Errorf("no database commit of %s in the trace", svc)
		}
	}
	t.Logf("trace %s, %d spans:", trace[0].traceID, len(trace))
	for _, s := range trace {
		t.Logf("  %-13s %-9s %s", s.service, strings.ToLower(strings.TrimPrefix(s.kind.String(), "SPAN_KIND_")), s.name)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func signupLogin(t *testing.T, ctx context.Context, c *bus.Client, email string, role contracts.Role) string {
	t.Helper()
	const password = "correct horse battery"
	if _, err := bus.Call(ctx, c, contracts.AuthSignup, contracts.SignupRequest{Email: email, Password: password, Role: role, DisplayName: "Test"}); err != nil {
		t.Fatalf("signup %s: %v", email, err)
	}
	s, err := bus.Call(ctx, c, contracts.AuthLogin, contracts.LoginRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return s.AccessToken
}

// span is what the test keeps of an exported span.
type span struct {
	traceID, spanID, parent string
	name, service           string
	kind                    tracepb.Span_SpanKind
	start                   uint64
	db                      bool // a database call (db.system.name)
}

// collector is an OTLP/HTTP trace receiver: POST /v1/traces with an
// ExportTraceServiceRequest in protobuf, as otlptracehttp sends it.
type collector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []span
}

func newCollector(t *testing.T) *collector {
	col := &collector{}
	col.srv = httptest.NewServer(http.HandlerFunc(col.export))
	t.Cleanup(col.srv.Close)
	return col
}

func (col *collector) export(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []span
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				db := slices.ContainsFunc(s.GetAttributes(), func(kv *commonpb.KeyValue) bool { return kv.GetKey() == "db.system.name" })
				got = append(got, span{db: db,
					traceID: hex.EncodeToString(s.GetTraceId()), spanID: hex.EncodeToString(s.GetSpanId()),
					parent: hexOrEmpty(s.GetParentSpanId()), name: s.GetName(), service: service,
					kind: s.GetKind(), start: s.GetStartTimeUnixNano(),
				})
			}
		}
	}
	col.mu.Lock()
	col.spans = append(col.spans, got...)
	col.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(out))
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

func (col *collector) count() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return len(col.spans)
}

func (col *collector) find(match func(span) bool) (span, bool) {
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, s := range col.spans {
		if match(s) {
			return s, true
		}
	}
	return span{}, false
}

// trace is the spans of one trace, by start time.
func (col *collector) trace(id string) []span {
	col.mu.Lock()
	defer col.mu.Unlock()
	var out []span
	for _, s := range col.spans {
		if s.traceID == id {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// edgeConn is a WebSocket client of the edge (docs/protocol.md), one request at a time.
type edgeConn struct {
	ws *websocket.Conn
	n  int
}

func dialEdge(t *testing.T, sys *system.System, token string) *edgeConn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(strings.TrimSuffix(sys.HTTPURL(), "/"), "http") + "/ws"
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &edgeConn{ws: ws}
	c.send(t, map[string]any{"type": "auth", "token": token}, nil)
	return c
}

func (c *edgeConn) call(t *testing.T, method string, body, out any) {
	t.Helper()
	c.send(t, map[string]any{"type": "req", "method": method, "body": body}, out)
}

// send writes f with a fresh id and reads frames (skipping pushes) until its answer.
func (c *edgeConn) send(t *testing.T, f map[string]any, out any) {
	t.Helper()
	c.n++
	id := fmt.Sprintf("q%d", c.n)
	f["v"], f["id"] = 1, id
	if err := c.ws.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var a struct {
			Type  string           `json:"type"`
			ID    string           `json:"id"`
			Body  json.RawMessage  `json:"body"`
			Error *contracts.Error `json:"error"`
		}
		if err := c.ws.ReadJSON(&a); err != nil {
			t.Fatalf("%s %v: %v", f["type"], f["method"], err)
		}
		if a.ID != id {
			continue
		}
		if a.Type != "ok" {
			t.Fatalf("%s %v: %+v", f["type"], f["method"], a.Error)
		}
		if out != nil {
			if err := json.Unmarshal(a.Body, out); err != nil {
				t.Fatalf("%v: %s: %v", f["method"], a.Body, err)
			}
		}
		return
	}
}
