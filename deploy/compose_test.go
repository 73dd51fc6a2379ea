package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/moa-run/moa/deploy/deploygen"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// loadCompose loads docker-compose.yml the way `docker compose` does, with no variables from
// the developer's environment.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func TestComposeRunsEveryServiceInItsOwnContainer(t *testing.T) {
	p := loadCompose(t)
	for _, infra := range append([]string{"postgres", "mongo"}, deploygen.ComposeNATS.Nodes...) {
		if _, err := p.GetService(infra); err != nil {
			t.Errorf("no %s container: %v", infra, err)
		}
	}
	for _, name := range system.Services() {
		svc, err := p.GetService(name)
		if err != nil {
			t.Errorf("service %s has no container: %v", name, err)
			continue
		}
		if want := []string{"serve", name}; !slices.Equal(svc.Command, want) {
			t.Errorf("%s: command %q, want %q", name, svc.Command, want)
		}
		if svc.Build == nil || svc.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: not built from the repository's Dockerfile", name)
		}
		env := func(k string) string {
			if v := svc.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		if env("MOA_NATS_URL") != deploygen.NATSURLs() || env("MOA_NATS_USER") != name || env("MOA_NATS_PASSWORD") == "" {
			t.Errorf("%s: NATS url %q user %q: want every server of the cluster, %s, as user %s with a password",
				name, env("MOA_NATS_URL"), env("MOA_NATS_USER"), deploygen.NATSURLs(), name)
		}
		if svc.Deploy == nil || svc.Deploy.Replicas == nil || *svc.Deploy.Replicas < 2 {
			t.Errorf("%s: %+v: want at least two instances", name, svc.Deploy)
		}
		for _, n := range deploygen.ComposeNATS.Nodes {
			if svc.DependsOn[n].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s does not wait for %s to be healthy", name, n)
			}
		}
		for _, p := range svc.Ports {
			if first, last, _ := strings.Cut(p.Published, "-"); svc.Deploy != nil && svc.Deploy.Replicas != nil && p.Published != "" {
				lo, hi := atoi(t, first), atoi(t, last)
				if last == "" || hi-lo+1 < *svc.Deploy.Replicas {
					t.Errorf("%s: publishes %s for %d instances: each needs a host port", name, p.Published, *svc.Deploy.Replicas)
				}
			}
		}
		if !strings.HasPrefix(env("MOA_HTTP_ADDR"), "0.0.0.0:") {
			t.Errorf("%s: MOA_HTTP_ADDR %q is not reachable from outside the container", name, env("MOA_HTTP_ADDR"))
		}
		reg, _ := system.Lookup(name)
		if pg := env(system.SettingEnv(name, "postgres_url")); reg.Postgres && !strings.Contains(pg, "/"+system.DatabaseName("", name)) {
			t.Errorf("%s needs PostgreSQL; its database URL is %q", name, pg)
		}
		if reg.Mongo && env(system.SettingEnv(name, "mongo_url")) == "" && env("MOA_MONGO_URL") == "" {
			t.Errorf("%s needs MongoDB and gets no URL", name)
		}
		if len(svc.Profiles) > 0 {
			t.Errorf("%s only starts with the profiles %v", name, svc.Profiles)
		}
		if reg.Mount == "/" && len(svc.Ports) == 0 {
			t.Errorf("%s serves the web app but publishes no port", name)
		}
	}
	composeNATSCluster(t, p)
	pg, _ := p.GetService("postgres")
	mounted := false
	for _, v := range pg.Volumes {
		mounted = mounted || strings.HasSuffix(v.Source, "deploy/postgres/init.sql") && strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/")
	}
	if !mounted {
		t.Error("the postgres container does not run deploy/postgres/init.sql")
	}
}

// composeNATSCluster checks the NATS servers: each runs the generated nats.conf as its own
// server of the cluster, on its own volume, stopping in lame duck.
func composeNATSCluster(t *testing.T, p *types.Project) {
	t.Helper()
	volumes := map[string]string{}
	for i, n := range deploygen.ComposeNATS.Nodes {
		svc, err := p.GetService(n)
		if err != nil {
			continue
		}
		if svc.Image != deploygen.NATSImage {
			t.Errorf("%s runs %s, want %s", n, svc.Image, deploygen.NATSImage)
		}
		mounted := false
		for _, v := range svc.Volumes {
			mounted = mounted || strings.HasSuffix(v.Source, "deploy/nats/nats.conf")
			if v.Target == "/data" {
				if other, ok := volumes[v.Source]; ok {
					t.Errorf("%s and %s share the store %s", n, other, v.Source)
				}
				volumes[v.Source] = n
			}
		}
		if !mounted {
			t.Errorf("%s does not mount deploy/nats/nats.conf", n)
		}
		env := func(k string) string {
			if v := svc.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		if env(deploygen.NATSServerNameEnv) != n || env(deploygen.NATSServerTagEnv) != deploygen.NATSFailureDomainTag+n {
			t.Errorf("%s: name %q tag %q", n, env(deploygen.NATSServerNameEnv), env(deploygen.NATSServerTagEnv))
		}
		for _, v := range natsConfVariables(t) {
			if env(v) == "" {
				t.Errorf("%s: nats.conf reads $%s, which the container's environment lacks", n, v)
			}
		}
		if svc.StopSignal != "SIGUSR2" || svc.StopGracePeriod == nil ||
			time.Duration(*svc.StopGracePeriod) <= deploygen.NATSLameDuck+deploygen.NATSLameDuckGrace {
			t.Errorf("%s: stops with %q within %v: want the lame-duck signal and time for it", n, svc.StopSignal, svc.StopGracePeriod)
		}
		if !slices.Contains(svc.Tmpfs, path.Dir(deploygen.NATSPidFile)) {
			t.Errorf("%s: no writable %s for the pid file", n, path.Dir(deploygen.NATSPidFile))
		}
		if len(svc.Ports) != 1 || svc.Ports[0].Published != strconv.Itoa(deploygen.NATSClientPort+i) {
			t.Errorf("%s: ports %+v: want the client port on %d", n, svc.Ports, deploygen.NATSClientPort+i)
		}
	}
	if len(volumes) != len(deploygen.ComposeNATS.Nodes) {
		t.Errorf("NATS stores %v: want one volume per server", volumes)
	}
}

// natsConfVariables are the environment variables deploy/nats/nats.conf reads.
func natsConfVariables(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*\w+: \$(\w+)$`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if !slices.Contains(out, "MOA_NATS_SYS_PASSWORD") || !slices.Contains(out, deploygen.NATSServerNameEnv) {
		t.Fatalf("nats.conf reads %v: want the server name and the system account's password among them", out)
	}
	return out
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}

func TestDockerfileBuildsMoa(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"go build", "./cmd/moa", `ENTRYPOINT ["/usr/local/bin/moa"]`, "USER nonroot"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(df, "FROM ") < 2 {
		t.Error("Dockerfile is not multi-stage")
	}
}

// The observability services: Prometheus with the generated scrape configuration and the
// alert rules, Grafana with the provisioned data sources and dashboards, Jaeger receiving
// OTLP; every UI and the OTLP ports on the host's loopback only.
func TestComposeRunsTheObservabilityStack(t *testing.T) {
	p := loadCompose(t)
	mounts := func(name string, want map[string]string) {
		t.Helper()
		svc, err := p.GetService(name)
		if err != nil {
			t.Errorf("no %s container: %v", name, err)
			return
		}
		for src, target := range want {
			found := false
			for _, v := range svc.Volumes {
				found = found || strings.HasSuffix(v.Source, src) && v.Target == target
			}
			if !found {
				t.Errorf("%s does not mount %s on %s", name, src, target)
			}
			if _, err := os.Stat(path.Join("..", src)); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
		}
		if len(svc.Ports) == 0 {
			t.Errorf("%s publishes no port", name)
		}
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q: want the loopback only", name, port.Published, port.HostIP)
			}
		}
	}
	mounts("prometheus", map[string]string{
		deploygen.PrometheusConfFile:   "/etc/prometheus/prometheus.yml",
		deploygen.PrometheusAlertsFile: "/etc/prometheus/alerts.yml",
	})
	mounts("grafana", map[string]string{
		deploygen.GrafanaProvisioning: "/etc/grafana/provisioning",
		deploygen.GrafanaDashboards:   "/var/lib/grafana/dashboards",
	})
	mounts("jaeger", nil)
	if j, err := p.GetService("jaeger"); err == nil {
		otlp := false
		for _, port := range j.Ports {
			otlp = otlp || port.Target == deploygen.OTLPHTTPPort
		}
		if !otlp || j.Environment["COLLECTOR_OTLP_ENABLED"] == nil || *j.Environment["COLLECTOR_OTLP_ENABLED"] != "true" {
			t.Errorf("jaeger does not receive OTLP: ports %+v", j.Ports)
		}
	}
	// The provisioning points Grafana at the mounted dashboards and at the two services.
	b, err := os.ReadFile(path.Join("..", deploygen.GrafanaProvisioning, "dashboards", "moa.yml"))
	if err != nil || !strings.Contains(string(b), "path: /var/lib/grafana/dashboards") {
		t.Errorf("dashboard provisioning (%v) does not read the mounted dashboards", err)
	}
	b, err = os.ReadFile(path.Join("..", deploygen.GrafanaProvisioning, "datasources", "moa.yml"))
	if err != nil || !strings.Contains(string(b), fmt.Sprintf("http://prometheus:%d", deploygen.PrometheusPort)) ||
		!strings.Contains(string(b), fmt.Sprintf("http://jaeger:%d", deploygen.JaegerUIPort)) {
		t.Errorf("data source provisioning (%v) does not name prometheus and jaeger", err)
	}
	// Every Moa service sends its traces to jaeger.
	for _, name := range system.Services() {
		svc, err := p.GetService(name)
		if err != nil {
			continue
		}
		if v := svc.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; v == nil || !strings.Contains(*v, fmt.Sprintf("jaeger:%d", deploygen.OTLPHTTPPort)) {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT %v does not point at jaeger", name, v)
		}
	}
}
