package system

import (
	"context"
	"net/http"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/services/auth"
)

// edgeFront hosts the WebSocket edge as the process's front (Registration.Mount "/"): its
// handler serves /ws, the demo page and /sdk/moa.js on the system's HTTP server.
type edgeFront struct {
	http.Handler
	g *edge.Gateway
}

// Stop closes every client connection with a going-away close, so clients reconnect to
// another instance, and withdraws this instance's presence claims.
func (f edgeFront) Stop(ctx context.Context) error { return f.g.Shutdown(ctx) }

// startEdge is the edge's bus.StartFunc: its config from its MOA_EDGE_* settings.
func startEdge(_ context.Context, env bus.Env) (bus.Component, error) {
	cfg, err := edge.ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	cfg.Logger = env.Logger
	g := edge.New(env.Runtime, cfg)
	return edgeFront{Handler: g.Handler(), g: g}, nil
}

// AuthOperatorSecret is the auth setting exchanged for operator tokens; moa dev sets it to
// DevOperatorSecret, the default of the operator tools' MOA_OPERATOR_SECRET, so that they
// work against it out of the box. Never use that value outside development.
var AuthOperatorSecret = auth.SettingOperatorSecret.Key

// DevOperatorSecret is moa dev's operator secret (see AuthOperatorSecret).
const DevOperatorSecret = "moa-dev-operator-secret"

// EdgeDevMailbox is the edge setting that routes notify.dev_mailbox to signed-in users, which
// `moa dev` turns on by default so that its demo page shows the mails notify would send.
var EdgeDevMailbox = edge.SettingDevMailbox.Key
