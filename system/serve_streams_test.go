package system_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

// `moa serve <service>` alone on a fresh server ends with exactly the streams the service
// needs: those of the events its domain emits, those its consumers and replays read, and the
// dead-letter stream when it consumes; and every stream contracts declares is needed by some
// service (a declared stream nobody writes or reads is removed, as SEARCH, NOTIFY and CHAT
// were, instead of existing only under `moa dev`).
func TestServeAloneEnsuresTheStreamsItNeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every service")
	}
	admin, mongo := moatest.Postgres(t), moatest.Mongo(t)
	needed := map[string]bool{}
	for _, name := range system.Services() {
		want := streamsNeeded(name)
		for _, s := range want {
			needed[s] = true
		}
		t.Run(name, func(t *testing.T) {
			prefix := randomPrefix()
			t.Cleanup(func() {
				conn, err := pgx.Connect(ctxFor(t, 30*time.Second), admin)
				if err == nil {
					conn.Exec(ctxFor(t, 30*time.Second), "DROP DATABASE IF EXISTS "+prefix+name+" WITH (FORCE)")
					conn.Close(ctxFor(t, 30*time.Second))
				}
			})
			ns := moatest.NATS(t)
			sys := startSystem(t, system.Config{
				DataDir: t.TempDir(), External: true, Services: []string{name},
				NATS: system.NATSConfig{URL: ns.URL()}, HTTPAddr: "127.0.0.1:0", Logger: quietLogger(),
				PostgresURL: admin, MongoURL: mongo, DatabasePrefix: prefix,
				Setting: func(service, key string) string {
					if service == "auth" && key == system.AuthOperatorSecret {
						return system.DevOperatorSecret
					}
					return ""
				},
			})
			var got []string
			names := sys.Runtime().JetStream().StreamNames(ctxFor(t, 30*time.Second))
			for n := range names.Name() {
				if !strings.HasPrefix(n, "KV_") { // key-value buckets are not event streams
					got = append(got, n)
				}
			}
			if err := names.Err(); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			t.Logf("serve %s: streams %v", name, got)
			if !slices.Equal(got, want) {
				t.Errorf("serve %s alone created streams %v, want %v", name, got, want)
			}
		})
	}
	for _, s := range contracts.Streams() {
		if !needed[s.Name] {
			t.Errorf("contracts declare stream %s, but no service emits to it or consumes from it", s.Name)
		}
	}
}

// streamsNeeded derives what a service needs from its registration and the contracts, not
// from the Streams list its start passes to EnsureStreams (which is what the test checks).
func streamsNeeded(name string) []string {
	reg, _ := system.Lookup(name)
	var out []string
	for _, e := range contracts.Events() {
		if strings.HasPrefix(e.Subject, "evt."+name+".") {
			out = append(out, e.Stream)
		}
	}
	for _, c := range reg.NATS.Consumers {
		out = append(out, c.Stream.Name, contracts.StreamDeadLetter.Name)
	}
	for _, r := range reg.NATS.Replays {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
