// Package auth is the auth service: accounts (argon2id passwords), sessions (EdDSA access
// tokens and rotating refresh tokens) and the public keys other services verify tokens with.
// It owns its PostgreSQL database.
//
// Layout: domain (rules), app (use cases), adapters (PostgreSQL, the outbox), ports (the
// endpoints); Start wires them. Domain and app name no wire DTO: ports map requests and
// responses, adapters the events they write (services/layering_test.go).
//
// Settings (MOA_AUTH_<KEY>): see [Settings].
package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/adapters"
	"github.com/moa-run/moa/services/auth/app"
	"github.com/moa-run/moa/services/auth/ports"
)

// purgeEvery is how often expired sessions and throttle windows are deleted.
const purgeEvery = 10 * time.Minute

// Component is the running auth service.
type Component struct {
	bus.Component
	app *app.Service
}

var _ bus.StartFunc = Start

// Start declares the auth service: its database (with a signing key made sure of), the outbox
// relay, the auth endpoints and the purge job.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	c, err := StartComponent(ctx, env)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// StartComponent is Start returning the concrete type, for tests and tools that rotate keys.
func StartComponent(ctx context.Context, env bus.Env) (*Component, error) {
	cfg, kek, err := config(env)
	if err != nil {
		return nil, err
	}
	c := &Component{}
	c.Component, err = host.Start(ctx, env, host.Service{
		Spec:     contracts.AuthService,
		Postgres: &host.Postgres{Migrate: adapters.Migrate},
		Streams:  []contracts.StreamSpec{contracts.StreamAuth},
		Relay:    true,
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			keys, err := adapters.NewKeys(d.Pool, kek)
			if err != nil {
				return host.Parts{}, err
			}
			if !keys.Encrypted() {
				d.Log.Warn("auth: MOA_AUTH_KEY_ENCRYPTION_KEY is not set; token signing keys are stored unencrypted")
			}
			if c.app, err = app.New(cfg, adapters.NewAccounts(d.Pool), adapters.NewSessions(d.Pool), adapters.NewThrottle(d.Pool), keys); err != nil {
				return host.Parts{}, err
			}
			if err := c.app.Keys().Init(ctx); err != nil {
				return host.Parts{}, err
			}
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.Register(svc, c.app) },
				// Expired sessions and throttle windows are deleted.
				Jobs: []*bus.Job{bus.Every("auth purge", purgeEvery, c.app.Purge)},
			}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RotateKey retires the active signing key and activates a new one, returning the new kid.
// This instance signs with the new key at once; other replicas within app.Config.KeyReload.
func (c *Component) RotateKey(ctx context.Context) (string, error) { return c.app.Keys().Rotate(ctx) }

// App returns the use cases (for benchmarks and tools in-process).
func (c *Component) App() *app.Service { return c.app }

// RotateKey rotates the signing key in the database of env without running the service, for
// an operator command. Running instances pick the new key up within app.Config.KeyReload.
func RotateKey(ctx context.Context, env bus.Env) (string, error) {
	cfg, kek, err := config(env)
	if err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, env.PostgresURL)
	if err != nil {
		return "", fmt.Errorf("auth: database: %w", err)
	}
	defer pool.Close()
	if err := adapters.Migrate(ctx, pool); err != nil {
		return "", err
	}
	keys, err := adapters.NewKeys(pool, kek)
	if err != nil {
		return "", err
	}
	a, err := app.New(cfg, adapters.NewAccounts(pool), adapters.NewSessions(pool), adapters.NewThrottle(pool), keys)
	if err != nil {
		return "", err
	}
	return a.Keys().Rotate(ctx)
}

// config reads the service settings.
func config(env bus.Env) (cfg app.Config, kek []byte, err error) {
	if cfg.AccessTTL, err = env.Duration(SettingAccessTokenTTL); err != nil {
		return cfg, nil, err
	}
	if cfg.RefreshTTL, err = env.Duration(SettingRefreshTokenTTL); err != nil {
		return cfg, nil, err
	}
	if cfg.OperatorSecret, err = env.String(SettingOperatorSecret); err != nil {
		return cfg, nil, err
	}
	v, err := env.String(SettingKeyEncryptionKey)
	if err != nil || v == "" {
		return cfg, nil, err
	}
	// The value is a key, not a number: decoding it is what the setting means.
	kek, err = base64.StdEncoding.DecodeString(v)
	if err != nil {
		kek, err = base64.RawURLEncoding.DecodeString(v)
	}
	if err != nil || len(kek) != 32 {
		return cfg, nil, errors.New("auth: MOA_AUTH_KEY_ENCRYPTION_KEY must be base64 of 32 bytes")
	}
	return cfg, kek, nil
}
