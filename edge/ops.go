package edge

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/telemetry"
)

// Ops is what the operations page reads: `moa dev` turns it on (Config.Ops or
// Gateway.EnableOps) with the spans it keeps in memory and its own metrics. Its data is
// served under /ops/api/ to operators only: every route but the token exchange requires an
// access token of contracts.RoleOperator (Authorization: Bearer), checked by the edge's
// verifier like a WebSocket session's. Without Ops the routes answer 404 not_found.
type Ops struct {
	// Traces are the recent traces (nil: none are listed).
	Traces *telemetry.Recorder
	// Metrics is the process's registry, read for the live figures (nil: none).
	Metrics prometheus.Gatherer
	// OperatorToken exchanges the operator secret (auth's MOA_AUTH_OPERATOR_SECRET) for an
	// operator access token, on the internal bus (contracts.AuthOperatorToken). nil: the page
	// cannot sign in by itself, and operators bring a token.
	OperatorToken func(ctx context.Context, secret string) (contracts.OperatorToken, error)
}

// opsRecentLimit bounds the traces one list answer carries.
const opsRecentLimit = 100

// Token exchanges are throttled for the whole edge: a person types a secret now and then,
// a guesser would try many.
const (
	opsTokenRate  = 1.0 // exchanges per second, sustained
	opsTokenBurst = 5
)

// EnableOps turns the operations API on (or replaces what it reads), for a gateway started
// before its process had the sources at hand (system's hosted edge).
func (g *Gateway) EnableOps(o Ops) { g.ops.Store(&o) }

// routesOps serves the operations page's script and its API.
func (g *Gateway) routesOps(mux *http.ServeMux) {
	mux.HandleFunc("POST /ops/api/token", g.opsToken)
	mux.HandleFunc("GET /ops/api/traces", g.operator(func(w http.ResponseWriter, r *http.Request, o *Ops) {
		if o.Traces == nil {
			writeOps(w, http.StatusOK, []telemetry.TraceSummary{})
			return
		}
		writeOps(w, http.StatusOK, o.Traces.Recent(opsLimit(r.URL.Query().Get("limit"), opsRecentLimit)))
	}))
	mux.HandleFunc("GET /ops/api/traces/{id}", g.operator(func(w http.ResponseWriter, r *http.Request, o *Ops) {
		var spans []telemetry.Span
		if o.Traces != nil {
			spans = o.Traces.Trace(r.PathValue("id"))
		}
		if spans == nil {
			opsError(w, contracts.ErrNotFound.Msg("trace %q is not among the recent traces", r.PathValue("id")))
			return
		}
		writeOps(w, http.StatusOK, spans)
	}))
	mux.HandleFunc("GET /ops/api/timeline", g.operator(func(w http.ResponseWriter, r *http.Request, o *Ops) {
		key := strings.TrimSpace(r.URL.Query().Get("subscription"))
		if _, err := contracts.Token("subscription", key); err != nil {
			opsError(w, err)
			return
		}
		if o.Traces == nil {
			writeOps(w, http.StatusOK, telemetry.BuildTimeline(key, nil))
			return
		}
		writeOps(w, http.StatusOK, o.Traces.Timeline(key))
	}))
	mux.HandleFunc("GET /ops/api/metrics", g.operator(func(w http.ResponseWriter, r *http.Request, o *Ops) {
		writeOps(w, http.StatusOK, figures(o.Metrics, time.Now()))
	}))
}

// operator wraps a handler of the API: it runs only for an operator's valid token.
func (g *Gateway) operator(h func(http.ResponseWriter, *http.Request, *Ops)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o := g.ops.Load()
		if o == nil {
			opsError(w, contracts.ErrNotFound.Msg("the operations API is off (moa dev turns it on)"))
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			opsError(w, contracts.ErrUnauthenticated.Msg("an operator token is required (Authorization: Bearer)"))
			return
		}
		p, _, err := g.verify(r.Context(), strings.TrimSpace(token))
		if err != nil {
			g.metrics.authFailures.Inc()
			opsError(w, err)
			return
		}
		if p.Role != contracts.RoleOperator {
			opsError(w, contracts.ErrForbidden.Msg("the operations API is for operators; this token is a %s's", p.Role))
			return
		}
		h(w, r, o)
	}
}

// opsToken answers POST /ops/api/token {"secret": "..."} with an operator token.
func (g *Gateway) opsToken(w http.ResponseWriter, r *http.Request) {
	o := g.ops.Load()
	if o == nil || o.OperatorToken == nil {
		opsError(w, contracts.ErrNotFound.Msg("operator sign-in is off here; bring an operator token"))
		return
	}
	if !g.opsThrottle.allow() {
		opsError(w, contracts.ErrRateLimited.Msg("too many operator sign-ins; try again in a moment"))
		return
	}
	var req contracts.OperatorTokenRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
		opsError(w, contracts.ErrBadRequest.Msg(`want {"secret": "..."}`))
		return
	}
	if err := req.Validate(); err != nil {
		opsError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.CallTimeout)
	defer cancel()
	tok, err := o.OperatorToken(ctx, req.Secret)
	if err != nil {
		opsError(w, err)
		return
	}
	writeOps(w, http.StatusOK, tok)
}

// throttle is a token bucket shared by every request.
type throttle struct {
	mu sync.Mutex
	b  bucket
}

func (t *throttle) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.allow(time.Now(), opsTokenRate, opsTokenBurst)
}

func writeOps(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// opsError answers with the error's stable code: {"error": {"code": ..., "message": ...}}.
func opsError(w http.ResponseWriter, err error) {
	ce := contracts.AsError(err)
	status := statusOf(ce) // the session endpoints' mapping (session.go)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="moa-ops"`)
	}
	writeOps(w, status, map[string]any{"error": ce})
}

// Figures are the process's key figures at one moment: counters as totals (the page turns
// them into rates between two polls), gauges as they are.
type Figures struct {
	At     int64              `json:"at"` // Unix milliseconds
	Values map[string]float64 `json:"values"`
	// Revenue is moa_revenue_minor_total by currency (minor units: won, cents).
	Revenue map[string]float64 `json:"revenue"`
}

// opsFigures name the figures the page charts after the metrics they sum (every series of
// the family). The names are Moa's stable metric names (bus/metrics.go,
// bus/consumer_metrics.go, services/*/adapters/metrics.go, edge/metrics.go).
var opsFigures = map[string]string{
	"requests":                "moa_handled_total",
	"errors":                  "moa_handler_errors_total",
	"consumer_lag":            "moa_consumer_pending_messages",
	"redeliveries":            "moa_redeliveries_total",
	"dead_letters":            "moa_dead_letters_total",
	"subscriptions_started":   "moa_subscriptions_started_total",
	"subscriptions_activated": "moa_subscriptions_activated_total",
	"subscriptions_cancelled": "moa_subscriptions_cancelled_total",
	"payments_declined":       "moa_payments_declined_total",
	"revenue_minor":           "moa_revenue_minor_total",
	"edge_connections":        "moa_edge_connections",
}

func figures(g prometheus.Gatherer, now time.Time) Figures {
	f := Figures{At: now.UnixMilli(), Values: map[string]float64{}, Revenue: map[string]float64{}}
	for name := range opsFigures {
		f.Values[name] = 0
	}
	if g == nil {
		return f
	}
	fams, _ := g.Gather() // a collector that failed leaves its figures at zero
	byName := map[string]string{}
	for fig, metric := range opsFigures {
		byName[metric] = fig
	}
	for _, fam := range fams {
		fig, ok := byName[fam.GetName()]
		if !ok {
			continue
		}
		for _, m := range fam.GetMetric() {
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				v = m.GetUntyped().GetValue()
			}
			f.Values[fig] += v
			if fig == "revenue_minor" {
				cur := "?"
				for _, l := range m.GetLabel() {
					if l.GetName() == "currency" {
						cur = l.GetValue()
					}
				}
				f.Revenue[cur] += v
			}
		}
	}
	return f
}

// opsLimit parses an optional positive integer query value.
func opsLimit(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < def {
		return n
	}
	return def
}
