package bus

import (
	"context"
	"errors"
	"log/slog"
)

// Env is what a hosting process (moa dev, moa serve, a test) hands to a service at start.
// Each service owns its data: PostgresURL points at the service's own database, MongoURL and
// MongoDatabase at its own document database.
type Env struct {
	Runtime       *Runtime
	Logger        *slog.Logger
	PostgresURL   string
	MongoURL      string
	MongoDatabase string
	// Setting returns a service-specific setting (MOA_<SERVICE>_<KEY> in the environment),
	// or "" when unset. Services do not call it: they read their declared settings with
	// Int, Duration, String... (settings.go).
	Setting func(key string) string
	// Declared is the service's Settings: a read of any other setting is an error. The
	// system sets it from the registration; nil (a bare test Env) checks nothing.
	Declared []Setting
}

// Component is a started service. Stop stops it alone: its endpoints answer what they took,
// then its consumers, jobs and relay stop and its pool closes. A service's Start builds it
// with the service host (bus/host), which owns that order.
type Component interface {
	Stop(ctx context.Context) error
}

// StartFunc starts one service: every Moa service package exports
//
//	func Start(ctx context.Context, env bus.Env) (bus.Component, error)
//
// which reads the service's settings and returns host.Start of its declaration.
type StartFunc func(ctx context.Context, env Env) (Component, error)

// Stopper adapts a function to Component.
type Stopper func(ctx context.Context) error

// Stop calls f.
func (f Stopper) Stop(ctx context.Context) error { return f(ctx) }

// Stops collects the release functions of what a service's Start acquired, so that they run
// in reverse order: on Stop, and on a Start that fails halfway (nothing half-started stays).
type Stops []func(ctx context.Context) error

// Add appends one release function.
func (s *Stops) Add(f func(ctx context.Context) error) { *s = append(*s, f) }

// Stop runs the release functions last first and joins their errors.
func (s Stops) Stop(ctx context.Context) error {
	var errs []error
	for i := len(s) - 1; i >= 0; i-- {
		errs = append(errs, s[i](ctx))
	}
	return errors.Join(errs...)
}

// Log returns the service's logger: the host's (which already names the service) or, when the
// host gave none, the runtime's labelled with service.
func (e Env) Log(service string) *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return e.Runtime.Logger().With("service", service)
}
