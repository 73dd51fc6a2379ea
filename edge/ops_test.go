package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/telemetry"
)

// The operations API answers operators only: anonymous callers and bad tokens get 401, app
// users (consumers, sellers) 403, each with a stable code; an operator gets the saga's
// timeline, the recent traces and the figures. The operator secret buys a working token.
func TestOpsAPIIsForOperatorsOnly(t *testing.T) {
	e := newEnv(t)
	rec := telemetry.NewRecorder(10)
	traces, err := telemetry.Setup(context.Background(), telemetry.Config{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	const sub = "0190a6f0-0000-7000-8000-0000000000aa"
	ctx, root := traces.Provider("subscription").Tracer("t").Start(context.Background(), "subscription subscribe", trace.WithSpanKind(trace.SpanKindServer))
	_, c := traces.Provider("catalog").Tracer("t").Start(ctx, "catalog catalog_seats", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.destination.name", "evt.subscription.requested."+sub)))
	c.End()
	root.End()
	reg := prometheus.NewRegistry()
	started := prometheus.NewCounter(prometheus.CounterOpts{Name: "moa_subscriptions_started_total"})
	reg.MustRegister(started)
	started.Add(3)

	const secret = "the operator secret, long enough"
	operatorTok := e.iss.token(contracts.Principal{UserID: contracts.OperatorUserID, Role: contracts.RoleOperator})
	te := e.edge(Config{Ops: &Ops{Traces: rec, Metrics: reg,
		OperatorToken: func(_ context.Context, s string) (contracts.OperatorToken, error) {
			if s != secret {
				return contracts.OperatorToken{}, contracts.ErrForbidden.Msg("wrong operator secret")
			}
			return contracts.OperatorToken{AccessToken: operatorTok, ExpiresAt: time.Now().Add(time.Hour)}, nil
		}}})
	base := te.srv.URL

	get := func(path, token string, into any) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body json.RawMessage
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		var e struct {
			Error *contracts.Error `json:"error"`
		}
		if res.StatusCode != http.StatusOK {
			_ = json.Unmarshal(body, &e)
			if e.Error == nil {
				t.Fatalf("GET %s: %d without an error body: %s", path, res.StatusCode, body)
			}
			return res.StatusCode, e.Error.Code
		}
		if into != nil {
			if err := json.Unmarshal(body, into); err != nil {
				t.Fatal(err)
			}
		}
		return res.StatusCode, ""
	}

	timeline := "/ops/api/timeline?subscription=" + sub
	for _, path := range []string{timeline, "/ops/api/traces", "/ops/api/metrics", "/ops/api/traces/" + root.SpanContext().TraceID().String()} {
		for _, tc := range []struct {
			who, token string
			status     int
			code       string
		}{
			{"anonymous", "", 401, "unauthenticated"},
			{"a forged token", "not-a-token", 401, "token_invalid"},
			{"a consumer", e.iss.token(principal(contracts.RoleConsumer)), 403, "forbidden"},
			{"a seller", e.iss.token(principal(contracts.RoleSeller)), 403, "forbidden"},
		} {
			if status, code := get(path, tc.token, nil); status != tc.status || code != tc.code {
				t.Errorf("%s: GET %s = %d %s, want %d %s", tc.who, path, status, code, tc.status, tc.code)
			}
		}
	}

	// The operator signs in with the secret, as the page does.
	post := func(body string) (int, contracts.OperatorToken, string) {
		res, err := http.Post(base+"/ops/api/token", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			contracts.OperatorToken
			Error *contracts.Error `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&out)
		code := ""
		if out.Error != nil {
			code = out.Error.Code
		}
		return res.StatusCode, out.OperatorToken, code
	}
	if status, _, code := post(`{"secret": "wrong, but long enough to be one"}`); status != 403 || code != "forbidden" {
		t.Errorf("a wrong secret: %d %s, want 403 forbidden", status, code)
	}
	if status, _, code := post(`not json`); status != 400 || code != "bad_request" {
		t.Errorf("a bad body: %d %s, want 400 bad_request", status, code)
	}
	status, tok, code := post(`{"secret": "` + secret + `"}`)
	if status != 200 || tok.AccessToken == "" {
		t.Fatalf("the operator secret: %d %s, no token", status, code)
	}

	var tl telemetry.Timeline
	if status, code := get(timeline, tok.AccessToken, &tl); status != 200 {
		t.Fatalf("operator: timeline %d %s", status, code)
	}
	if len(tl.Steps) != 2 || tl.Steps[0].Name != "subscription subscribe" || tl.Steps[1].Service != "catalog" || tl.Key != sub {
		t.Errorf("timeline %+v", tl)
	}
	var recent []telemetry.TraceSummary
	if status, code := get("/ops/api/traces", tok.AccessToken, &recent); status != 200 || len(recent) != 1 || recent[0].Keys[0] != sub {
		t.Errorf("operator: traces %d %s %+v", status, code, recent)
	}
	var figs Figures
	if status, code := get("/ops/api/metrics", tok.AccessToken, &figs); status != 200 || figs.Values["subscriptions_started"] != 3 {
		t.Errorf("operator: figures %d %s %+v", status, code, figs)
	}
	if status, code := get("/ops/api/timeline?subscription=a.b", tok.AccessToken, nil); status != 400 || code != "invalid_subject_token" {
		t.Errorf("a key that is no token: %d %s", status, code)
	}
	if status, code := get("/ops/api/traces/ffff", tok.AccessToken, nil); status != 404 || code != "not_found" {
		t.Errorf("an unknown trace: %d %s", status, code)
	}

	// An edge without Ops has no operations API at all.
	off := e.edge(Config{})
	base = off.srv.URL
	if status, code := get("/ops/api/traces", operatorTok, nil); status != 404 || code != "not_found" {
		t.Errorf("ops off: %d %s, want 404 not_found", status, code)
	}
}
