package edge

import (
	"context"
	"errors"
	"net/http"

	"github.com/moa-run/moa/bus"
)

// Start runs the edge as a component of a Moa process (system registry, mounted at "/"): its
// settings are its declared Settings (MOA_EDGE_<KEY>), and the component it returns
// is the *Gateway, which serves HTTP and stops with Shutdown.
func Start(_ context.Context, env bus.Env) (bus.Component, error) {
	if env.Runtime == nil {
		return nil, errors.New("edge: Env.Runtime is required")
	}
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	cfg.Logger = env.Logger
	return New(env.Runtime, cfg), nil
}

// ServeHTTP serves Handler().
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Stop is Shutdown: a Gateway is a bus.Component.
func (g *Gateway) Stop(ctx context.Context) error { return g.Shutdown(ctx) }
