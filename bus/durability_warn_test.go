package bus_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// logBuf is a slog destination tests read.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// warnings returns the WARN lines of the log.
func (l *logBuf) warnings() []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, "level=WARN") {
			out = append(out, line)
		}
	}
	return out
}

func guardRuntime(t *testing.T, nc *nats.Conn, opts ...bus.Option) (*bus.Runtime, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	rt, err := bus.New(nc, append([]bus.Option{bus.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lax := critical
	lax.Name, lax.Subjects, lax.Critical = "LAX", []string{"evt.laxtest.>"}, false
	if err := rt.EnsureStreams(ctx, critical, lax); err != nil {
		t.Fatal(err)
	}
	if err := rt.CheckDurability(ctx, critical, lax); err != nil {
		t.Fatal(err)
	}
	return rt, logs
}

// On a single server a critical stream declared R3 runs at R1: the start goes on, but the log
// and DurabilityWarnings (hence /status) say so as a WARNING; a non-critical one is only noted.
// On the embedded server the guard reads the sync setting from its options: without
// SyncAlways, critical streams get a second warning; with it, none.
func TestDurabilityGuardWarnsOnEmbeddedServer(t *testing.T) {
	for _, sync := range []bool{false, true} {
		s, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: t.TempDir(), SyncAlways: sync})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		rt, logs := guardRuntime(t, connect(t, s.ClientURL()), bus.WithEmbeddedServer(s))
		warns, listed := logs.warnings(), rt.DurabilityWarnings()
		t.Logf("sync always %v: log warnings %q; DurabilityWarnings %q", sync, warns, listed)
		want := 2 // R1 for PAYMENTS, and no fsync
		if sync {
			want = 1
		}
		if len(warns) != want || len(listed) != want {
			t.Fatalf("sync always %v: %d log warnings, %d listed, want %d", sync, len(warns), len(listed), want)
		}
		if !strings.Contains(warns[0], "WARNING: critical stream capped") || !strings.Contains(warns[0], "stream=PAYMENTS") {
			t.Errorf("no replica warning for PAYMENTS: %s", warns[0])
		}
		if strings.Contains(strings.Join(warns, "\n"), "stream=LAX") {
			t.Errorf("a non-critical stream was warned about: %v", warns)
		}
		if !sync && !strings.Contains(warns[1], "does not fsync") {
			t.Errorf("no sync warning: %s", warns[1])
		}
		// Services check at every start, and every one checks the dead-letter stream: the
		// warning is logged once.
		if err := rt.CheckDurability(mbCtx(t), critical); err != nil {
			t.Fatal(err)
		}
		if n := len(logs.warnings()); n != want {
			t.Errorf("a second check logged %d warnings, want still %d", n, want)
		}
	}
}

// On an external server the guard asks the servers' varz through the system account: an
// account that imports the ping gets the sync warning (none when the server syncs always); one
// that cannot read varz gets the replica warning only, and no error.
func TestDurabilityGuardReadsSyncFromVarz(t *testing.T) {
	for _, sync := range []bool{false, true} {
		opts := []moatest.Option{func(o *server.Options) {
			sys, app := server.NewAccount("SYS"), server.NewAccount("APP")
			o.Accounts = []*server.Account{sys, app}
			o.SystemAccount = "SYS"
			o.Users = []*server.User{{Username: "app", Password: "app", Account: app}, {Username: "plain", Password: "plain", Account: app}}
		}}
		if sync {
			opts = append(opts, moatest.WithSyncAlways())
		}
		srv := moatest.NATS(t, opts...)
		s := srv.Server()
		app, err := s.LookupAccount("APP")
		if err != nil {
			t.Fatal(err)
		}
		if err := app.EnableJetStream(map[string]server.JetStreamAccountLimits{"": {MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1}}, nil); err != nil {
			t.Fatal(err)
		}
		_, logs := guardRuntime(t, srv.Conn(t, nats.UserInfo("plain", "plain")))
		if w := logs.warnings(); len(w) != 1 || !strings.Contains(logs.String(), "cannot read the server's sync setting") {
			t.Fatalf("without varz access: want the replica warning only and a debug note, got %q", w)
		}
		// What an operator's config does with exports and imports: APP may ask every server's varz.
		if err := s.SystemAccount().AddServiceExport("$SYS.REQ.SERVER.PING.VARZ", []*server.Account{app}); err != nil {
			t.Fatal(err)
		}
		if err := app.AddServiceImport(s.SystemAccount(), "$SYS.REQ.SERVER.PING.VARZ", ""); err != nil {
			t.Fatal(err)
		}
		rt, logs := guardRuntime(t, srv.Conn(t, nats.UserInfo("app", "app")))
		w := logs.warnings()
		t.Logf("sync always %v, with varz access: %q", sync, rt.DurabilityWarnings())
		switch {
		case sync && len(w) != 1:
			t.Fatalf("server syncs always: want the replica warning only, got %q", w)
		case !sync && (len(w) != 2 || !strings.Contains(w[1], "does not fsync") || !strings.Contains(w[1], "servers=moatest")):
			t.Fatalf("with varz access: want the replica and the sync warnings, got %q", w)
		}
	}
}
