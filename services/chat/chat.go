// Package chat is the chat service: 1:1 rooms between a consumer and the seller of a product,
// stored in its own MongoDB database. A message is acknowledged only once it is stored, then
// pushed live to both members' push subjects (contracts.PushUserSubject), where the edge
// instances they are connected to pick it up; read receipts follow the same way. Typing
// indicators are ephemeral and go from edge to edge without this service; chat.v1.room tells
// the edge who a room's members are.
//
// Layout: domain (rules), app (use cases), adapters (MongoDB, the catalog client, pushes),
// ports (endpoints); Start wires them.
//
// Settings (MOA_CHAT_<KEY>): see [Settings].
package chat

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/adapters"
	"github.com/moa-run/moa/services/chat/app"
	"github.com/moa-run/moa/services/chat/ports"
)

// DefaultDatabase is the database used when the environment names none.
const DefaultDatabase = "chat"

// Start connects to the service's MongoDB database, migrates it and registers the chat
// endpoints.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	rt := env.Runtime
	if rt == nil {
		return nil, errors.New("chat: Env.Runtime is required")
	}
	if env.MongoURL == "" {
		return nil, errors.New("chat: Env.MongoURL is required")
	}
	log := env.Log(contracts.ChatService.Name)

	writers, err := env.Int(SettingWriters)
	if err != nil {
		return nil, err
	}

	mc, err := mongo.Connect(options.Client().ApplyURI(env.MongoURL))
	if err != nil {
		return nil, fmt.Errorf("chat: mongo: %w", err)
	}
	c := &component{mongo: mc}
	fail := func(err error) (bus.Component, error) {
		_ = c.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := mc.Ping(ctx, nil); err != nil {
		return fail(fmt.Errorf("chat: mongo ping: %w", err))
	}
	name := env.MongoDatabase
	if name == "" {
		name = DefaultDatabase
	}
	db := mc.Database(name)
	if err := adapters.Migrate(ctx, db); err != nil {
		return fail(err)
	}
	calls := rt.NewClient(contracts.ChatService.Name)
	repo := adapters.NewRepository(db, writers)
	c.repo = repo
	a := app.New(repo, adapters.NewCatalog(client.New(calls).Catalog),
		adapters.NewPusher(rt.Conn(), log))
	if c.svc, err = rt.AddService(contracts.ChatService); err != nil {
		return fail(err)
	}
	if err := ports.RegisterEndpoints(c.svc, a, authn.NewVerifier(calls)); err != nil {
		return fail(fmt.Errorf("chat: endpoints: %w", err))
	}
	return c, nil
}

// component is the started service.
type component struct {
	mongo *mongo.Client
	repo  *adapters.Repository
	svc   *bus.Service
}

// Stop stops taking requests, waits for the ones being handled (within ctx), then closes the
// store. The runtime would stop the endpoints at its own Close; doing it here lets a host stop
// this service alone.
func (c *component) Stop(ctx context.Context) error {
	var errs []error
	if c.svc != nil {
		errs = append(errs, c.svc.Stop(ctx))
	}
	if c.repo != nil {
		c.repo.Close()
	}
	errs = append(errs, c.mongo.Disconnect(ctx))
	return errors.Join(errs...)
}
