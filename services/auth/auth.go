// Package auth is the auth service: accounts (argon2id passwords), sessions (EdDSA access
// tokens and rotating refresh tokens) and the public keys other services verify tokens with.
// It owns its PostgreSQL database.
//
// Settings (MOA_AUTH_<KEY>): see [Settings].
package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/adapters"
	"github.com/moa-run/moa/services/auth/app"
	"github.com/moa-run/moa/services/auth/ports"
)

// purgeEvery is how often expired sessions and throttle windows are deleted.
const purgeEvery = 10 * time.Minute

// Component is the running auth service.
type Component struct {
	app   *app.Service
	pool  *pgxpool.Pool
	svc   *bus.Service
	relay *outbox.Relay
	stop  context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once
}

var _ bus.StartFunc = Start

// Start opens the service's database, migrates it, makes sure a signing key exists, starts
// the outbox relay and serves the auth endpoints on env.Runtime.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	return StartComponent(ctx, env)
}

// StartComponent is Start returning the concrete type, for tests and tools that rotate keys.
func StartComponent(ctx context.Context, env bus.Env) (_ *Component, err error) {
	rt := env.Runtime
	log := env.Log(contracts.AuthService.Name)
	cfg, kek, err := config(env)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, env.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("auth: database: %w", err)
	}
	c := &Component{pool: pool}
	defer func() {
		if err != nil {
			_ = c.Stop(context.Background())
		}
	}()
	if err := adapters.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	if err := outbox.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	if err := rt.EnsureStreams(ctx, contracts.StreamAuth); err != nil {
		return nil, err
	}
	keys, err := adapters.NewKeys(pool, kek)
	if err != nil {
		return nil, err
	}
	if !keys.Encrypted() {
		log.Warn("auth: MOA_AUTH_KEY_ENCRYPTION_KEY is not set; token signing keys are stored unencrypted")
	}
	c.app, err = app.New(cfg, adapters.NewAccounts(pool), adapters.NewSessions(pool), adapters.NewThrottle(pool), keys)
	if err != nil {
		return nil, err
	}
	if err := c.app.Keys().Init(ctx); err != nil {
		return nil, err
	}
	c.relay = outbox.StartRelay(ctx, pool, rt, outbox.RelayOptions{Name: "auth", Logger: log})
	if c.svc, err = rt.AddService(contracts.AuthService); err != nil {
		return nil, err
	}
	if err := ports.Register(c.svc, c.app); err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.wg.Go(func() { c.purge(bg, log) })
	return c, nil
}

// RotateKey retires the active signing key and activates a new one, returning the new kid.
// This instance signs with the new key at once; other replicas within app.Config.KeyReload.
func (c *Component) RotateKey(ctx context.Context) (string, error) { return c.app.Keys().Rotate(ctx) }

// App returns the use cases (for benchmarks and tools in-process).
func (c *Component) App() *app.Service { return c.app }

// Stop stops serving, then releases the relay, the background purge and the pool.
func (c *Component) Stop(ctx context.Context) error {
	var errs []error
	c.once.Do(func() {
		if c.svc != nil {
			errs = append(errs, c.svc.Micro().Stop())
		}
		if c.stop != nil {
			c.stop()
			c.wg.Wait()
		}
		if c.relay != nil {
			errs = append(errs, c.relay.Stop(ctx))
		}
		c.pool.Close()
	})
	return errors.Join(errs...)
}

func (c *Component) purge(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.app.Purge(ctx); err != nil && ctx.Err() == nil {
				log.Warn("auth: purge failed", "error", err)
			}
		}
	}
}

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
