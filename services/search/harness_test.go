package search_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search"
	"github.com/moa-run/moa/services/search/ports"
)

// fixture is one search service on the harness: embedded NATS, embedded FerretDB, a test token
// issuer standing in for the auth service, and the typed client the tests drive it with.
type fixture struct {
	rt     *bus.Runtime
	iss    *authntest.Issuer
	search *client.SearchClient
	env    bus.Env
	comp   bus.Component
	db     *mongo.Database // for assertions on what is stored, never to drive the service
}

func start(t testing.TB) *fixture {
	t.Helper()
	return startWith(t, nil)
}

// startWith starts the service with settings (keys as Start reads them, e.g. "JANITOR_INTERVAL").
func startWith(t testing.TB, settings map[string]string) *fixture {
	t.Helper()
	nc := moatest.NATS(t).Conn(t)
	rt, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	f := &fixture{rt: rt, iss: authntest.NewIssuer(t, rt), search: client.New(rt.Client()).Search}
	uri := moatest.Mongo(t)
	f.env = bus.Env{
		Runtime: rt, MongoURL: uri,
		MongoDatabase: "search_" + uuid.NewString()[:8], // unique even on a shared MOA_TEST_MONGO_URL
		Setting:       func(key string) string { return settings[key] },
		Declared:      search.Settings,
	}
	f.comp = f.startService(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	f.db = mc.Database(f.env.MongoDatabase)
	return f
}

// startService starts (or restarts) the service and stops it at the end of the test.
func (f *fixture) startService(t testing.TB) bus.Component {
	t.Helper()
	comp, err := search.Start(t.Context(), f.env)
	if err != nil {
		t.Fatalf("search.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = comp.Stop(ctx)
	})
	return comp
}

// as returns a context acting for p.
func (f *fixture) as(t testing.TB, p contracts.Principal) context.Context {
	return f.iss.Context(t.Context(), p)
}

// emit publishes a catalog.searched event as the catalog would and returns its stream sequence.
func (f *fixture) emit(t testing.TB, user, query string, at time.Time) (contracts.Envelope, uint64) {
	t.Helper()
	env, subject, err := bus.NewEnvelope(t.Context(), nil, "catalog", contracts.CatalogSearched, user,
		contracts.SearchedData{UserID: user, Query: query, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return env, f.publish(t, subject, env, env.ID)
}

// publish stores env on subject with msgID as its Nats-Msg-Id: a msgID other than the event id
// is how a re-publish after the stream's duplicate window looks to a consumer.
func (f *fixture) publish(t testing.TB, subject string, env contracts.Envelope, msgID string) uint64 {
	t.Helper()
	msg, err := bus.EnvelopeMsg(subject, env)
	if err != nil {
		t.Fatal(err)
	}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	ack, err := f.rt.JetStream().PublishMsg(t.Context(), msg)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// waitConsumed waits until the search consumer has settled (acked or dead-lettered) every
// message up to stream sequence seq.
func (f *fixture) waitConsumed(t testing.TB, seq uint64) {
	t.Helper()
	moatest.WaitFor(t, 20*time.Second, func() error {
		c, err := f.rt.JetStream().Consumer(t.Context(), contracts.StreamCatalog.Name, ports.CatalogSearchedConsumer.Durable)
		if err != nil {
			return err
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < seq {
			return errors.New("consumer ack floor below the event")
		}
		return nil
	})
}

// wantCode asserts that err is the catalogue error want, on field when field is not empty.
func wantCode(t *testing.T, what string, err error, want *contracts.Error, field string) {
	t.Helper()
	var ce *contracts.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v, want %s", what, err, want.Code)
	}
	if ce.Code != want.Code || ce.Field != field {
		t.Fatalf("%s: got %s on field %q (%s), want %s on field %q", what, ce.Code, ce.Field, ce.Message, want.Code, field)
	}
}

func queries(items []contracts.RecentSearch) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Query
	}
	return out
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
