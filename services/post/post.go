// Package post is the blog's post service: writers (accounts with the writer role) write posts
// in markdown, which it renders to sanitised HTML, file them in categories with tags, and
// publish them; anyone reads, lists (by category or tag, in keyset pages) and searches them in
// Korean and English; signed-in users comment, one level deep, and a post's author moderates
// its comments. It owns a PostgreSQL database (categories, posts, comments, its outbox) and
// emits evt.post.> through the outbox for the blog's log and notify services.
//
// Layout: domain (rules, markdown rendering), app (use cases), adapters (PostgreSQL, the
// outbox), ports (endpoints); Start wires them. Domain and app name no wire DTO
// (services/layering_test.go).
//
// Settings (MOA_POST_<KEY>): see [Settings].
package post

import (
	"context"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/adapters"
	"github.com/moa-run/moa/services/post/app"
	"github.com/moa-run/moa/services/post/ports"
)

// Start declares the post service: its database and outbox relay, its stream and its
// endpoints.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	conns, err := env.Int(SettingMaxConns)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, env, host.Service{
		Spec:     contracts.PostService,
		Postgres: &host.Postgres{Migrate: adapters.Migrate, MaxConns: int32(conns)},
		Streams:  []contracts.StreamSpec{contracts.StreamPost},
		Durable:  []contracts.StreamSpec{contracts.StreamPost},
		Relay:    true,
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			store := adapters.NewStore(d.Pool)
			a := app.New(store, store, store, newID)
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.Register(svc, a, authn.NewVerifier(d.Calls)) },
				Started:   []any{"max_conns", conns},
			}, nil
		},
	})
}

// newID makes time-ordered ids (UUIDv7) for posts and comments, which keep the primary key
// indexes append-only and order a post's comment threads by their start.
func newID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
