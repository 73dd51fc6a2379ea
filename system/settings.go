package system

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/moa-run/moa/bus"
)

// settingGuard hands a service only the settings its registration declares. The typed reads
// (bus.Env.Int...) refuse an undeclared setting themselves; the guard also catches a service
// calling Env.Setting with a raw key: such a key reads as unset and is remembered, and Start
// fails naming it. So no setting is read that `moa help` and the README do not list.
type settingGuard struct {
	service  string
	declared []bus.Setting
	get      func(service, key string) string
	log      *slog.Logger

	mu         sync.Mutex
	started    bool
	undeclared []string
}

// lookup is the Env.Setting of the service.
func (g *settingGuard) lookup(key string) string {
	if bus.Declared(g.declared, key) {
		return g.get(g.service, key)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !slices.Contains(g.undeclared, key) {
		g.undeclared = append(g.undeclared, key)
		if g.started {
			g.log.Warn("service read a setting it does not declare; it reads as unset", "setting", key)
		}
	}
	return ""
}

// check ends the start: an error when Start read an undeclared setting.
func (g *settingGuard) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.started = true
	if len(g.undeclared) > 0 {
		return fmt.Errorf("%s read settings it does not declare in its Settings: %v", g.service, g.undeclared)
	}
	return nil
}

// guardedEnv fills env's settings for a registration: declared ones only, when it declares
// any (a registration without Settings, such as a test's stand-in service, reads freely).
func (s *System) guardedEnv(env *bus.Env, name string, reg Registration) (check func(ctx context.Context, comp bus.Component) error) {
	if reg.Settings == nil {
		env.Setting = func(key string) string { return s.cfg.Setting(name, key) }
		return func(context.Context, bus.Component) error { return nil }
	}
	g := &settingGuard{service: name, declared: reg.Settings, get: s.cfg.Setting, log: env.Logger}
	env.Setting, env.Declared = g.lookup, reg.Settings
	return func(ctx context.Context, comp bus.Component) error {
		err := g.check()
		if err != nil && comp != nil {
			_ = comp.Stop(ctx)
		}
		return err
	}
}
