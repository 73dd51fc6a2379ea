package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/system"
)

const intro = `moa runs the Moa subscription marketplace: services on NATS (request-reply and
JetStream events), each with its own PostgreSQL and MongoDB databases.

Usage:
  moa dev [flags]               everything in one process on embedded defaults: NATS with
                                JetStream, PostgreSQL (local server under the data dir),
                                FerretDB, every service; prints "nats: URL" (with the
                                operator's credentials) and "web: URL"
  moa serve [flags] SERVICE...  the chosen services against external NATS, PostgreSQL and
                                MongoDB (the production shape, one container per service)
  moa dlq COMMAND [flags]       dead letters: ls, show, replay, purge (moa dlq help)
  moa sagas stuck [flags]       subscription sagas stuck in PENDING or CANCELLING
                                (moa sagas help)
  moa projections rebuild       rebuild the sellers' dashboard by replaying the streams
                                (moa projections help)
  moa load [flags]              drive a running system over its WebSocket edge as the apps
                                do, ramping the rate up; prints the highest rate at which
                                every operation holds its p99, with a table per operation
  moa help                      this text

SIGTERM or SIGINT drains subscriptions, lets in-flight work finish and exits 0.
HTTP: /healthz (alive), /readyz (NATS, JetStream and every service up), /metrics (Prometheus),
/status; where the edge runs (dev, serve edge): the web app at /, /ws and /sdk/moa.js.
Traces (dev, serve): exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG),
OTEL_SDK_DISABLED and OTEL_RESOURCE_ATTRIBUTES apply. Logs carry trace_id and span_id.
`

// writeHelp prints the usage, every flag with its variable, default and commands, and every
// per-service variable.
func writeHelp(w io.Writer) {
	fmt.Fprint(w, intro)
	fmt.Fprintf(w, "\nServices: %s\n", knownServices())
	fmt.Fprint(w, "\nFlags and environment variables (a flag wins over its variable):\n")
	for _, s := range settings {
		head := "  --" + s.Flag
		if s.Arg != "" {
			head += " " + s.Arg
		}
		meta := []string{s.Env}
		if s.Default != "" {
			meta = append(meta, "default "+s.Default)
		}
		meta = append(meta, strings.Join(s.Commands, ", "))
		fmt.Fprintf(w, "%s  (%s)\n", head, strings.Join(meta, "; "))
		fmt.Fprintf(w, "%s\n", indent(s.Usage, "        ", 88))
	}
	fmt.Fprint(w, "\nPer-service environment variables (<SERVICE> upper-cased, e.g. MOA_CATALOG_POSTGRES_URL):\n")
	for _, v := range perService {
		fmt.Fprintf(w, "  %s\n%s\n", v.Env, indent(v.Usage, "        ", 88))
	}
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		for _, d := range reg.Settings {
			text := strings.ReplaceAll(describeSetting(name, d), "`", "")
			fmt.Fprintf(w, "  %s\n%s\n", system.SettingEnv(name, d.Key), indent(text, "        ", 88))
		}
	}
}

// describeSetting is a service setting's documentation (Markdown code spans kept, for the
// README), followed by what its declaration says: accepted values, default, former names.
func describeSetting(service string, s bus.Setting) string {
	var more []string
	if c := s.Constraint(); c != "" {
		more = append(more, c)
	}
	if s.Default != "" && s.Kind != bus.KindSecret {
		more = append(more, "default `"+s.Default+"`")
	}
	for _, old := range s.Aliases {
		more = append(more, "formerly `"+system.SettingEnv(service, old)+"`, still read")
	}
	if len(more) == 0 {
		return s.Doc
	}
	return s.Doc + " (" + strings.Join(more, "; ") + ")"
}

// settingsTable is the README's table of the services' own settings, one row per declared
// setting of every registered service.
func settingsTable() string {
	var b strings.Builder
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		for _, d := range reg.Settings {
			fmt.Fprintf(&b, "| `%s` | %s |\n", system.SettingEnv(name, d.Key), describeSetting(name, d))
		}
	}
	return b.String()
}

// indent wraps text at width and prefixes every line.
func indent(text, prefix string, width int) string {
	var lines []string
	line := prefix
	for _, word := range strings.Fields(text) {
		if len(line) > len(prefix) && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = prefix
		}
		if len(line) > len(prefix) {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}
