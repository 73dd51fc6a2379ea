package deploy_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

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
	for _, infra := range []string{"nats", "postgres", "mongo"} {
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
		if env("MOA_NATS_URL") != "nats://nats:4222" || env("MOA_NATS_USER") != name || env("MOA_NATS_PASSWORD") == "" {
			t.Errorf("%s: NATS url %q user %q: want nats://nats:4222 as user %s with a password",
				name, env("MOA_NATS_URL"), env("MOA_NATS_USER"), name)
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
	nats, _ := p.GetService("nats")
	mounted := false
	for _, v := range nats.Volumes {
		mounted = mounted || strings.HasSuffix(v.Source, "deploy/nats/nats.conf")
	}
	if !mounted {
		t.Error("the nats container does not mount deploy/nats/nats.conf")
	}
	pg, _ := p.GetService("postgres")
	mounted = false
	for _, v := range pg.Volumes {
		mounted = mounted || strings.HasSuffix(v.Source, "deploy/postgres/init.sql") && strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/")
	}
	if !mounted {
		t.Error("the postgres container does not run deploy/postgres/init.sql")
	}
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
