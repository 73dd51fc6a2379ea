package deploy_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/moa-run/moa/deploy/deploygen"
	"github.com/moa-run/moa/system/systemtest"
)

// query is one PromQL expression of a dashboard or an alert rule, with where it is.
type query struct{ where, expr string }

// dashboardQueries reads every dashboard of deploy/grafana/dashboards: each must be a JSON
// object with a uid and a title, and each of its panels' targets a PromQL expression.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", deploygen.GrafanaDashboards, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bus", "databases", "edge", "business"} {
		if !slices.Contains(files, filepath.Join("..", deploygen.GrafanaDashboards, want+".json")) {
			t.Errorf("no %s dashboard among %v", want, files)
		}
	}
	var out []query
	uids := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID, Title string
			Panels     []struct {
				Title      string
				Datasource struct{ UID string }
				Targets    []struct{ Expr string }
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q title %q with %d panels", f, d.UID, d.Title, len(d.Panels))
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share the uid %s", f, other, d.UID)
		}
		uids[d.UID] = f
		for _, p := range d.Panels {
			if p.Datasource.UID != "prometheus" {
				t.Errorf("%s: panel %q reads data source %q, not the provisioned prometheus", f, p.Title, p.Datasource.UID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q queries nothing", f, p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q has an empty query", f, p.Title)
				}
				out = append(out, query{filepath.Base(f) + ": " + p.Title, tg.Expr})
			}
		}
	}
	return out
}

// alertQueries reads deploy/prometheus/alerts.yml; every rule must have a name, an expression
// and a summary.
func alertQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", deploygen.PrometheusAlertsFile))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		// Strict: a misspelt key (exprr) is a rule Prometheus would reject.
		var lax struct{}
		if yaml.Unmarshal(b, &lax) != nil {
			t.Fatalf("alerts.yml: %v", err)
		}
	}
	var out []query
	alerts := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" {
				t.Errorf("alerts.yml: rule %+v lacks a name, an expression or a summary", r)
			}
			alerts[r.Alert] = true
			out = append(out, query{"alerts.yml: " + r.Alert, r.Expr})
		}
	}
	// The conditions issue 16 names as needing a person.
	for _, want := range []string{"MoaSagasStuck", "MoaDeadLettersGrowing", "MoaConsumerLagging", "MoaCircuitBreakerOpen"} {
		if !alerts[want] {
			t.Errorf("alerts.yml has no %s rule", want)
		}
	}
	return out
}

// The Prometheus configuration compose mounts loads the alert rules, and scrapes every
// instance of every service.
func TestPrometheusConfigLoadsTheRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", deploygen.PrometheusConfFile))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		RuleFiles     []string `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `json:"job_name"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("rule_files %v: the alert rules are not loaded", c.RuleFiles)
	}
	if len(c.ScrapeConfigs) == 0 {
		t.Error("Prometheus scrapes nothing")
	}
}

// metricNames returns the metric names expr selects. It is a tokenizer, not a parser: it skips
// string literals, label matchers ({...}), ranges ([5m]) and the label lists of by, without,
// on, ignoring and group_left/right, and takes every remaining identifier that is not a
// function call (followed by "("), an aggregation operator, a keyword or a number.
func metricNames(expr string) []string {
	keywords := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true, "atan2": true}
	// Aggregation operators may be followed by a label list rather than "(".
	for _, agg := range []string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"} {
		keywords[agg] = true
	}
	labelLists := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	isStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	skipTo := func(i int, close byte) int {
		for i < len(expr) && expr[i] != close {
			if expr[i] == '"' || expr[i] == '\'' || expr[i] == '`' {
				q := expr[i]
				for i++; i < len(expr) && expr[i] != q; i++ {
					if expr[i] == '\\' {
						i++
					}
				}
			}
			i++
		}
		return i + 1
	}
	var out []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipTo(i+1, c)
		case c == '{':
			i = skipTo(i+1, '}')
		case c == '[':
			i = skipTo(i+1, ']')
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isPart(expr[i]) || expr[i] == '.') {
				i++
			}
		case isStart(c):
			j := i
			for j < len(expr) && isPart(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			i = j
			switch {
			case labelLists[strings.ToLower(word)] && k < len(expr) && expr[k] == '(':
				i = skipTo(k+1, ')')
			case keywords[strings.ToLower(word)], k < len(expr) && expr[k] == '(':
			default:
				out = append(out, word)
			}
		default:
			i++
		}
	}
	return out
}

func TestMetricNamesTokenizer(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (service, name) (rate(moa_handled_total{kind="request", name=~"a{1}"}[1m]))`: {"moa_handled_total"},
		`histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5 and on (job) up`:   {"x_bucket", "up"},
		`sum(a) / sum without (code) (b offset 5m) or vector(0) * 1e3`:                       {"a", "b"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// exported reports whether reg has a collector for a metric named name: a probe gauge of that
// name registers only when no collector describes one (a registry refuses a second descriptor
// of a name with another help string or labels). A histogram's or summary's series (_bucket,
// _sum, _count) are exported when the histogram is.
func exported(reg *prometheus.Registry, name string) bool {
	probe := func(n string) bool {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "deploy test probe: is this name taken?"})
		err := reg.Register(g)
		if err == nil {
			reg.Unregister(g)
			return false
		}
		var are prometheus.AlreadyRegisteredError
		return errors.As(err, &are) || strings.Contains(err.Error(), "previously registered descriptor with the same fully-qualified name")
	}
	if probe(name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && probe(base) {
			return true
		}
	}
	return false
}

// Every metric a dashboard or an alert rule queries is one a running Moa exports: the whole
// system is booted and each name is looked up in the registry its /metrics serves. A renamed
// metric, or a panel for one that was never added, fails here rather than showing "No data".
func TestDashboardsAndAlertsQueryExportedMetrics(t *testing.T) {
	queries := append(dashboardQueries(t), alertQueries(t)...)
	sys := systemtest.Boot(t)
	reg := sys.Registry()
	if exported(reg, "moa_no_such_metric_total") {
		t.Fatal("the probe finds a metric nobody registered: it cannot tell a missing metric")
	}
	missing := map[string][]string{}
	checked := 0
	for _, q := range queries {
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: %q selects no metric", q.where, q.expr)
		}
		for _, n := range names {
			checked++
			if !strings.HasPrefix(n, "moa_") {
				t.Errorf("%s: %s is not one of Moa's metrics (moa_*)", q.where, n)
			}
			if !exported(reg, n) {
				missing[n] = append(missing[n], q.where)
			}
		}
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("%s is queried by %v but Moa exports no such metric", n, missing[n])
	}
	t.Logf("%d queries, %d metric references checked", len(queries), checked)
}
