package system_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// Every registered service starts reading only the settings it declares, each given its
// declared default through MOA_<SERVICE>_<KEY>: a service reading a setting it does not
// declare (so one `moa help` and the README do not list) fails to start, and a default that
// its own declaration refuses would fail too.
func TestEveryServiceReadsOnlyDeclaredSettings(t *testing.T) {
	var opts []systemtest.Option
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		if reg.Settings == nil {
			t.Errorf("%s's registration has no Settings (an empty list when it reads none), so its reads go unchecked", name)
		}
		for _, s := range reg.Settings {
			if s.Default != "" {
				opts = append(opts, systemtest.Setting(name, s.Key, s.Default))
			}
		}
	}
	sys := systemtest.Boot(t, append(opts, systemtest.LogLevel(slog.LevelWarn))...)
	if got, want := len(sys.Services()), len(system.Services()); got != want {
		t.Fatalf("%d services started, want %d", got, want)
	}
}

// A service reading a setting it does not declare fails to start, whether it reads it
// through a declaration missing from its Settings or with a raw key.
func TestUndeclaredSettingFailsStart(t *testing.T) {
	declared := bus.IntSetting("GREETINGS", 1, 1, 10, "greetings per call")
	forgotten := bus.IntSetting("FORGOTTEN", 1, 1, 10, "declared but left out of the list")
	for what, read := range map[string]func(env bus.Env) error{
		"typed": func(env bus.Env) error { _, err := env.Int(forgotten); return err },
		"raw":   func(env bus.Env) error { env.Setting("FORGOTTEN"); return nil },
	} {
		start := func(_ context.Context, env bus.Env) (bus.Component, error) {
			if _, err := env.Int(declared); err != nil {
				return nil, err
			}
			return bus.Stopper(func(context.Context) error { return nil }), read(env)
		}
		sys, err := system.Start(ctxFor(t, time.Minute), system.Config{
			DataDir:  t.TempDir(),
			NATS:     system.NATSConfig{URL: moatest.NATS(t).URL()},
			HTTPAddr: "127.0.0.1:0",
			Logger:   quietLogger(),
			Registry: map[string]system.Registration{"probe": {Start: start, Settings: []bus.Setting{declared}}},
			Setting:  func(service, key string) string { return "3" },
		})
		if err == nil {
			_ = sys.Stop(ctxFor(t, time.Minute))
			t.Fatalf("%s read of an undeclared setting: the service started", what)
		}
		if !strings.Contains(err.Error(), "FORGOTTEN") || !strings.Contains(err.Error(), "not declare") && !strings.Contains(err.Error(), "not declared") {
			t.Errorf("%s read of an undeclared setting: %v, want an error naming FORGOTTEN", what, err)
		}
	}
}
