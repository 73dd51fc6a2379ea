package deploygen

import (
	"fmt"
	"strings"

	"github.com/moa-run/moa/system"
)

const mongoURL = "mongodb://moa:${MONGO_PASSWORD:-mongo-dev}@mongo:27017/?authSource=admin"

// ComposeServices renders the services of docker-compose.yml: the NATS and PostgreSQL
// containers with every user's and role's password, MongoDB, and one `moa serve <service>`
// container per registered service, from its registration: its databases, the settings it
// marks PassThrough, and its Compose comment and ports.
func ComposeServices() []byte {
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
		writeComposeService(&b, name)
	}
	return []byte(b.String())
}

func writeComposeService(b *strings.Builder, name string) {
	reg, _ := system.Lookup(name)
	b.WriteString("\n")
	writeComment(b, "  ", reg.Compose.Comment)
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
	for _, s := range reg.Settings {
		if s.PassThrough {
			env := system.SettingEnv(name, s.Key)
			fmt.Fprintf(b, "      %s: ${%s:-}\n", env, env)
		}
	}
	if len(reg.Compose.Ports) > 0 {
		b.WriteString("    ports:\n")
		for _, p := range reg.Compose.Ports {
			fmt.Fprintf(b, "      - %q\n", p)
		}
	}
}

func natsPasswordRef(user string) string {
	return "${" + NATSPasswordEnv(user) + ":-" + user + "-nats-dev}"
}

func dbPasswordRef(service string) string {
	return "${" + DBPasswordEnv(service) + ":-" + service + "-db-dev}"
}
