package deploygen

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/system"
)

// composeExtra is what a service's container gets besides its NATS user and database URLs:
// settings passed through from the host's environment (empty when unset) and published ports.
type composeExtra struct {
	comment  string
	settings []string // keys of the service's declared settings
	ports    []string
}

var composeExtras = map[string]composeExtra{
	"auth":    {settings: []string{"KEY_ENCRYPTION_KEY"}},
	"billing": {comment: "Payments go to the built-in simulated provider (MOA_BILLING_PROVIDER=sim)."},
	"notify": {comment: "Without MOA_NOTIFY_SMTP_ADDR mails go to notify's dev mailbox, not to anyone.",
		settings: []string{"SMTP_ADDR", "SMTP_FROM", "SMTP_USER", "SMTP_PASSWORD", "SMTP_TLS"}},
	"edge": {comment: "The WebSocket edge: the web app, /ws and /sdk/moa.js on http://localhost:8080/. " +
		"Set MOA_EDGE_ALLOWED_ORIGINS to the origins of other sites whose pages may connect.",
		settings: []string{"ALLOWED_ORIGINS"}, ports: []string{"8080:8080"}},
}

const mongoURL = "mongodb://moa:${MONGO_PASSWORD:-mongo-dev}@mongo:27017/?authSource=admin"

// ComposeServices renders the services of docker-compose.yml: the NATS and PostgreSQL
// containers with every user's and role's password, MongoDB, and one `moa serve <service>`
// container per registered service.
func ComposeServices() ([]byte, error) {
	var b strings.Builder
	b.WriteString(`services:
  nats:
    image: nats:2-alpine
    command: ["--config", "/etc/nats/nats.conf"]
    volumes:
      - ./` + NATSConfFile + `:/etc/nats/nats.conf:ro
      - nats-data:/data
    environment:
`)
	for _, u := range system.NATSUsers() {
		fmt.Fprintf(&b, "      %s: %s\n", NATSPasswordEnv(u.Name), natsPasswordRef(u.Name))
	}
	b.WriteString(`    ports:
      - "127.0.0.1:4222:4222"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8222/healthz?js-enabled-only=true"]
      interval: 5s
      timeout: 3s
      retries: 12
    restart: unless-stopped

  postgres:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-postgres-dev}
`)
	for _, name := range PostgresServices() {
		fmt.Fprintf(&b, "      %s: %s\n", DBPasswordEnv(name), dbPasswordRef(name))
	}
	b.WriteString(`    volumes:
      - ./` + InitSQLFile + `:/docker-entrypoint-initdb.d/init.sql:ro
      - postgres-data:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres"]
      interval: 5s
      timeout: 3s
      retries: 12
    restart: unless-stopped

  mongo:
    image: mongo:7
    environment:
      MONGO_INITDB_ROOT_USERNAME: moa
      MONGO_INITDB_ROOT_PASSWORD: ${MONGO_PASSWORD:-mongo-dev}
    volumes:
      - mongo-data:/data/db
    healthcheck:
      test: ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"]
      interval: 5s
      timeout: 5s
      retries: 12
    restart: unless-stopped
`)
	for _, name := range system.Services() {
		if err := writeComposeService(&b, name); err != nil {
			return nil, err
		}
	}
	return []byte(b.String()), nil
}

func writeComposeService(b *strings.Builder, name string) error {
	reg, _ := system.Lookup(name)
	x := composeExtras[name]
	b.WriteString("\n")
	writeComment(b, "  ", x.comment)
	fmt.Fprintf(b, "  %s:\n    <<: *moa\n    command: [\"serve\", %q]\n    environment:\n      <<: *moa-env\n", name, name)
	fmt.Fprintf(b, "      MOA_NATS_USER: %s\n      MOA_NATS_PASSWORD: %s\n", name, natsPasswordRef(name))
	if reg.Postgres {
		db := system.DatabaseName("", name)
		fmt.Fprintf(b, "      %s: postgres://%s:%s@postgres:5432/%s?sslmode=disable\n",
			system.SettingEnv(name, "postgres_url"), db, dbPasswordRef(name), db)
	}
	if reg.Mongo {
		fmt.Fprintf(b, "      %s: %s\n", system.SettingEnv(name, "mongo_url"), mongoURL)
	}
	for _, key := range x.settings {
		if !slices.ContainsFunc(reg.Settings, func(s bus.Setting) bool { return s.Key == key }) {
			return fmt.Errorf("compose passes %s's setting %s, which it does not declare", name, key)
		}
		env := system.SettingEnv(name, key)
		fmt.Fprintf(b, "      %s: ${%s:-}\n", env, env)
	}
	if len(x.ports) > 0 {
		b.WriteString("    ports:\n")
		for _, p := range x.ports {
			fmt.Fprintf(b, "      - %q\n", p)
		}
	}
	return nil
}

func natsPasswordRef(user string) string {
	return "${" + NATSPasswordEnv(user) + ":-" + user + "-nats-dev}"
}

func dbPasswordRef(service string) string {
	return "${" + DBPasswordEnv(service) + ":-" + service + "-db-dev}"
}
