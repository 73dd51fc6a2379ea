// Package chat is the chat service: 1:1 rooms between a consumer and the seller of a product,
// stored in its own MongoDB database. A message is acknowledged only once it is stored, then
// pushed live to both members' push subjects (contracts.PushUserSubject), where the edge
// instances they are connected to pick it up; read receipts follow the same way. Typing
// indicators are ephemeral and go from edge to edge without this service; chat.v1.room tells
// the edge who a room's members are.
//
// Layout: domain (rules), app (use cases), adapters (MongoDB, the catalog client, pushes),
// ports (endpoints); Start wires them. Only ports and adapters name contracts' wire types:
// ports maps the endpoints' requests and responses, adapters what goes out (pushes, catalog
// calls); domain and app use contracts only for its vocabulary (errors, limits, validators).
//
// Settings (MOA_CHAT_<KEY>): see [Settings].
package chat

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/adapters"
	"github.com/moa-run/moa/services/chat/app"
	"github.com/moa-run/moa/services/chat/ports"
)

// DefaultDatabase is the database used when the environment names none.
const DefaultDatabase = "chat"

// Start declares the chat service: its MongoDB database and the chat endpoints.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	writers, err := env.Int(SettingWriters)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, env, host.Service{
		Spec:  contracts.ChatService,
		Mongo: &host.Mongo{Database: DefaultDatabase, Migrate: adapters.Migrate},
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			repo := adapters.NewRepository(d.DB, writers)
			if err := repo.Recover(ctx); err != nil {
				repo.Close()
				return host.Parts{}, err
			}
			a := app.New(repo, adapters.NewCatalog(client.New(d.Calls).Catalog),
				adapters.NewPusher(d.Runtime.Conn(), d.Log), adapters.MessagesCounter(d.Runtime.Registry()))
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.RegisterEndpoints(svc, a, authn.NewVerifier(d.Calls)) },
				Closers:   []func(context.Context) error{func(context.Context) error { repo.Close(); return nil }},
			}, nil
		},
	})
}
