package system_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// The echo service is a real service of the tests' own: it owns a PostgreSQL database and a
// MongoDB database and writes to both on every call, so a passing call proves the system
// handed it working, separate databases.
var (
	echoService = contracts.Service{Name: "echo", Version: "0.1.0", Major: 1, Description: "test service"}
	echoSay     = contracts.Endpoint[sayRequest, sayReply]{Service: echoService, Name: "say"}
)

type sayRequest struct {
	Text string `json:"text"`
}

type sayReply struct {
	Text     string `json:"text"`
	Database string `json:"database"` // current_database() of the service's pool
	Rows     int    `json:"rows"`     // rows in its table after the insert
	Docs     int64  `json:"docs"`     // documents in its collection after the insert
	Setting  string `json:"setting"`  // its "greeting" setting
}

// echoStops counts Stop calls of echo components, to check rollbacks and shutdown.
type echoProbe struct {
	stops atomic.Int32
}

func echoStart(p *echoProbe) bus.StartFunc {
	return func(ctx context.Context, env bus.Env) (bus.Component, error) {
		pool, err := pgxpool.New(ctx, env.PostgresURL)
		if err != nil {
			return nil, err
		}
		if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS said (text text NOT NULL)`); err != nil {
			pool.Close()
			return nil, err
		}
		mc, err := mongo.Connect(options.Client().ApplyURI(env.MongoURL))
		if err != nil {
			pool.Close()
			return nil, err
		}
		coll := mc.Database(env.MongoDatabase).Collection("said")
		svc, err := env.Runtime.AddService(echoService)
		if err != nil {
			pool.Close()
			return nil, err
		}
		greeting := env.Setting("greeting")
		err = bus.Handle(svc, echoSay, func(ctx context.Context, req sayRequest) (sayReply, error) {
			r := sayReply{Text: req.Text, Setting: greeting}
			if _, err := pool.Exec(ctx, `INSERT INTO said (text) VALUES ($1)`, req.Text); err != nil {
				return r, err
			}
			if err := pool.QueryRow(ctx, `SELECT current_database(), count(*) FROM said`).Scan(&r.Database, &r.Rows); err != nil {
				return r, err
			}
			if _, err := coll.InsertOne(ctx, bson.M{"text": req.Text}); err != nil {
				return r, err
			}
			r.Docs, err = coll.CountDocuments(ctx, bson.M{})
			return r, err
		})
		if err != nil {
			pool.Close()
			return nil, err
		}
		return bus.Stopper(func(ctx context.Context) error {
			p.stops.Add(1)
			pool.Close()
			return mc.Disconnect(ctx)
		}), nil
	}
}

// failing is a service whose Start fails, to check that Start rolls back.
func failing(context.Context, bus.Env) (bus.Component, error) {
	return nil, errors.New("refusing to start")
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startSystem(t *testing.T, cfg system.Config) *system.System {
	t.Helper()
	sys, err := system.Start(ctxFor(t, 2*time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Stop(ctxFor(t, time.Minute)) })
	return sys
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func say(t *testing.T, sys *system.System, text string) sayReply {
	t.Helper()
	r, err := bus.Call(ctxFor(t, 30*time.Second), sys.Client(), echoSay, sayRequest{Text: text})
	if err != nil {
		t.Fatalf("echo.say(%q): %v", text, err)
	}
	return r
}

func must(t *testing.T, err error, what ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprint(what...), err)
	}
}
