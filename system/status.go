package system

import (
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/moa-run/moa/bus"
)

// statusPage is what /status shows (and / when no edge serves the web app there): what this
// process runs and where, nothing more.
var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Moa</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}
td,th{padding:.2rem .8rem .2rem 0;text-align:left}code{background:#f3f3f3;padding:0 .2rem}</style>
</head><body>
<h1>Moa</h1>
<p>State: <strong>{{.State}}</strong></p>
<h2>Infrastructure</h2>
<table>
<tr><th>NATS</th><td><code>{{.NATS}}</code></td></tr>
<tr><th>PostgreSQL</th><td>{{.Postgres}}</td></tr>
<tr><th>MongoDB</th><td>{{.Mongo}}</td></tr>
</table>
<h2>Durability</h2>
{{if .Durability}}<ul>
{{range .Durability}}<li><strong>{{.}}</strong></li>
{{end}}</ul>
<p>See the operations guide (docs/operations.md) on replicas and <code>sync_interval: always</code>.</p>
{{else}}<p>No durability warnings from the services' stream checks.</p>{{end}}
{{if .Problems}}<p>The durability guard's last check found (it re-checks every {{.Watch}}):</p>
<ul>
{{range .Problems}}<li><strong>{{.Stream}}</strong>: {{range $i, $p := .Problems}}{{if $i}}; {{end}}{{$p}}{{end}}</li>
{{end}}</ul>
{{else}}<p>The durability guard's last check (every {{.Watch}}) found every watched stream as declared.</p>{{end}}
<h2>Services</h2>
{{if .Services}}<table>
<tr><th>service</th><th>state</th></tr>
{{range .Services}}<tr><td>{{.Name}}</td><td>{{.State}}</td></tr>
{{end}}</table>
<p>Discover them with <code>nats --server {{.NATS}} micro ls</code>.</p>
{{else}}<p>No services are selected.</p>{{end}}
<h2>Endpoints</h2>
<ul>
<li><a href="/healthz">/healthz</a> — the process is alive</li>
<li><a href="/readyz">/readyz</a> — NATS, JetStream and every service are up</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics</li>
<li><a href="/status">/status</a> — this page</li>
</ul>
{{if .WebApp}}<p>The marketplace web app is at <a href="/">/</a>.</p>
{{else}}<p>This process serves no web app: the edge does (<code>moa serve edge</code>; <code>moa dev</code> runs it).</p>
{{end}}
</body></html>
`))

type statusView struct {
	State    State
	NATS     string
	Postgres string
	Mongo    string
	Services []serviceView
	WebApp   bool // a selected service (the edge) serves /
	// Durability lists the warnings of the services' durability guard (bus.CheckDurability).
	Durability []string
	// Problems is what the guard's watch found in its last check; Watch is its interval.
	Problems []bus.StreamProblems
	Watch    string
}

type serviceView struct{ Name, State string }

func (s *System) serveStatus(rw http.ResponseWriter, _ *http.Request) {
	v := statusView{State: s.State(), NATS: s.NATSURL(), Postgres: "not used", Mongo: "not used", WebApp: s.cfg.mountsRoot(s.names)}
	if v.NATS == "" {
		v.NATS = "(connecting)"
	}
	v.Durability = s.durabilityWarnings()
	v.Problems = s.durabilityProblems()
	v.Watch = s.cfg.DurabilityWatch.String()
	if s.cfg.DurabilityWatch <= 0 {
		v.Watch = DefaultDurabilityWatch.String()
	}
	started := map[string]bool{}
	for _, n := range s.Services() {
		started[n] = true
	}
	for _, n := range s.names {
		st := "starting"
		if started[n] {
			st = "started"
		}
		v.Services = append(v.Services, serviceView{Name: n, State: st})
		r := s.cfg.Registry[n]
		if r.Postgres {
			v.Postgres = s.describePostgres()
		}
		if r.Mongo {
			v.Mongo = s.describeMongo()
		}
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(rw, v); err != nil {
		s.log.Warn("status page", "error", err)
	}
}

func (s *System) describePostgres() string {
	switch {
	case s.cfg.PostgresURL != "":
		return "external, " + redactURL(s.cfg.PostgresURL) + " (one database per service)"
	case s.cfg.External:
		return "external, per-service URLs"
	default:
		return "local server under " + s.cfg.pgDir() + " (one database per service)"
	}
}

func (s *System) describeMongo() string {
	switch {
	case s.cfg.MongoURL != "":
		return "external, " + redactURL(s.cfg.MongoURL)
	case s.cfg.External:
		return "external, per-service URLs"
	case s.cfg.MongoBackend == MongoBackendPostgreSQL:
		return "embedded FerretDB on PostgreSQL, database " + DatabaseName(s.cfg.DatabasePrefix, "docs")
	default:
		return "embedded FerretDB under " + s.cfg.mongoDir()
	}
}

// durabilityProblems is what the durability guards of the system's runtime and of the
// services' own found in their last check, one entry per stream (every service of `moa dev`
// watches the dead-letter stream).
func (s *System) durabilityProblems() []bus.StreamProblems {
	rts := []*bus.Runtime{s.Runtime()}
	s.mu.Lock()
	for _, st := range s.started {
		rts = append(rts, st.rt)
	}
	s.mu.Unlock()
	byStream := map[string][]string{}
	for _, rt := range rts {
		if rt == nil {
			continue
		}
		for _, p := range rt.DurabilityProblems() {
			byStream[p.Stream] = append(byStream[p.Stream], p.Problems...)
		}
	}
	var out []bus.StreamProblems
	for _, name := range slices.Sorted(maps.Keys(byStream)) {
		p := byStream[name]
		slices.Sort(p)
		out = append(out, bus.StreamProblems{Stream: name, Problems: slices.Compact(p)})
	}
	return out
}

// describeProblems says the problems on one line: "BILLING: replica on n2 offline; ...".
func describeProblems(ps []bus.StreamProblems) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Stream + ": " + strings.Join(p.Problems, ", ")
	}
	return strings.Join(parts, "; ")
}

// durabilityWarnings are the warnings of the system's runtime and, when each service has its
// own (NATSConfig.Authorize), of theirs: each service checks the streams it relies on.
func (s *System) durabilityWarnings() []string {
	var out []string
	if rt := s.Runtime(); rt != nil {
		out = rt.DurabilityWarnings()
	}
	s.mu.Lock()
	for _, st := range s.started {
		if st.rt != nil {
			out = append(out, st.rt.DurabilityWarnings()...)
		}
	}
	s.mu.Unlock()
	slices.Sort(out)
	return slices.Compact(out)
}

// cappedStreams are the streams the runtimes found with fewer replicas than declared because
// the JetStream domain has fewer servers (see bus.Runtime.CappedStreams).
func (s *System) cappedStreams() []string {
	var out []string
	if rt := s.Runtime(); rt != nil {
		out = rt.CappedStreams()
	}
	s.mu.Lock()
	for _, st := range s.started {
		if st.rt != nil {
			out = append(out, st.rt.CappedStreams()...)
		}
	}
	s.mu.Unlock()
	slices.Sort(out)
	return slices.Compact(out)
}
