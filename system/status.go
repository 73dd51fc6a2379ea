package system

import (
	"html/template"
	"net/http"
)

// statusPage is what / shows until the edge (issue 6) serves the marketplace there: what
// this process runs and where, nothing more.
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
</ul>
<p>The marketplace web app is not served yet: the WebSocket edge arrives with issue 6.</p>
</body></html>
`))

type statusView struct {
	State    State
	NATS     string
	Postgres string
	Mongo    string
	Services []serviceView
}

type serviceView struct{ Name, State string }

func (s *System) serveStatus(rw http.ResponseWriter, _ *http.Request) {
	v := statusView{State: s.State(), NATS: s.NATSURL(), Postgres: "not used", Mongo: "not used"}
	if v.NATS == "" {
		v.NATS = "(connecting)"
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
	default:
		return "embedded FerretDB under " + s.cfg.mongoDir()
	}
}
