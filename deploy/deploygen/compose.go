package deploygen

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/moa-run/moa/system"
)

const mongoURL = "mongodb://moa:${MONGO_PASSWORD:-mongo-dev}@mongo:27017/?authSource=admin"

// ServiceReplicas is how many instances of each Moa service both deployments run: every
// service keeps its state in PostgreSQL, MongoDB or JetStream, so a second instance is what
// keeps it answering while one restarts, fails or is rescheduled.
const ServiceReplicas = 2

// NATSImage is the NATS server image both deployments run: the release of the nats-server
// module the tests run in-process (deploy/k8s_test.go holds them equal).
const NATSImage = "nats:2.15.2-alpine"

// NATSURLs is how a service reaches the cluster in compose: every server, so that it connects
// to another one when its server is gone.
func NATSURLs() string { return ComposeNATS.URLs() }

// ComposeServices renders the services of docker-compose.yml: the NATS cluster's servers and
// PostgreSQL with every user's and role's password, MongoDB, and ServiceReplicas `moa serve
// <service>` containers per registered service, from its registration: its databases, the
// settings it marks PassThrough, and its Compose comment and ports; and the volumes.
func ComposeServices() []byte {
	var b strings.Builder
	b.WriteString("services:\n")
	for i, node := range ComposeNATS.Nodes {
		writeComposeNATS(&b, i, node)
	}
	b.WriteString(`  postgres:
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
	writeComposeObservability(&b)
	b.WriteString("\nvolumes:\n")
	for _, node := range ComposeNATS.Nodes {
		fmt.Fprintf(&b, "  %s-data:\n", node)
	}
	b.WriteString("  postgres-data:\n  mongo-data:\n  prometheus-data:\n")
	return []byte(b.String())
}

// writeComposeNATS writes the i-th server of the cluster. Each publishes its client port on
// the host's loopback (4222, 4223, ...) for the operator tools.
func writeComposeNATS(b *strings.Builder, i int, node string) {
	if i == 0 {
		writeComment(b, "  ", fmt.Sprintf("A %d-server NATS cluster, all on this host: each server's failure domain tag "+
			"is its own name, so that JetStream places a stream's %d replicas on %d servers; on separate hosts "+
			"set %s to the host's zone or rack. `docker compose stop` sends SIGUSR2, the lame-duck signal.",
			NATSNodes, NATSNodes, NATSNodes, NATSServerTagEnv))
	}
	fmt.Fprintf(b, `  %s:
    image: %s
    command: ["--config", "/etc/nats/nats.conf"]
    volumes:
      - ./%s:/etc/nats/nats.conf:ro
      - %s-data:/data
    tmpfs:
      - %s
    environment:
      %s: %s
      %s: %s%s
`, node, NATSImage, NATSConfFile, node, path.Dir(NATSPidFile),
		NATSServerNameEnv, node, NATSServerTagEnv, NATSFailureDomainTag, node)
	for _, u := range natsUsers() {
		fmt.Fprintf(b, "      %s: %s\n", NATSPasswordEnv(u), natsPasswordRef(u))
	}
	fmt.Fprintf(b, `    ports:
      - "127.0.0.1:%d:%d"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:%d/healthz?js-enabled-only=true"]
      interval: 5s
      timeout: 3s
      retries: 12
    stop_signal: SIGUSR2
    stop_grace_period: %s
    restart: unless-stopped

`, NATSClientPort+i, NATSClientPort, NATSHTTPPort, NATSStopGrace)
}

// natsUsers are the users of nats.conf: one per system.NATSUsers, and the system account's.
func natsUsers() []string {
	var out []string
	for _, u := range system.NATSUsers() {
		out = append(out, u.Name)
	}
	return append(out, NATSSysUser)
}

func writeComposeService(b *strings.Builder, name string) {
	reg, _ := system.Lookup(name)
	b.WriteString("\n")
	writeComment(b, "  ", reg.Compose.Comment)
	fmt.Fprintf(b, "  %s:\n    <<: *moa\n    command: [\"serve\", %q]\n    deploy:\n      replicas: %d\n    environment:\n      <<: *moa-env\n",
		name, name, ServiceReplicas)
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
			fmt.Fprintf(b, "      - %q\n", scaledPort(p))
		}
	}
}

func natsPasswordRef(user string) string {
	return "${" + NATSPasswordEnv(user) + ":-" + user + "-nats-dev}"
}

func dbPasswordRef(service string) string {
	return "${" + DBPasswordEnv(service) + ":-" + service + "-db-dev}"
}

// scaledPort turns a declared "host:container" port into a range of ServiceReplicas host
// ports, one per instance ("8080-8081:8080"): instances of one service cannot publish the
// same host port.
func scaledPort(p string) string {
	host, container, ok := strings.Cut(p, ":")
	n, err := strconv.Atoi(host)
	if !ok || err != nil || strings.Contains(container, ":") {
		return p
	}
	return fmt.Sprintf("%d-%d:%s", n, n+ServiceReplicas-1, container)
}
