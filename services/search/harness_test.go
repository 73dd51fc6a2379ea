package search_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search"
	"github.com/moa-run/moa/services/search/ports"
)

// fixture is one search service on the service kit (embedded NATS and FerretDB, a test token
// issuer standing in for the auth service) and the typed client the tests drive it with.
type fixture struct {
	*moatest.Kit[bus.Component]
	search *client.SearchClient
}

func start(t testing.TB) *fixture {
	t.Helper()
	return startWith(t, nil)
}

// startWith starts the service with settings (keys as Start reads them, e.g. "JANITOR_INTERVAL").
func startWith(t testing.TB, settings map[string]string) *fixture {
	t.Helper()
	k := moatest.Service(t, search.Start, moatest.With{Mongo: true, Settings: settings, Declared: search.Settings})
	return &fixture{Kit: k, search: k.Client.Search}
}

// as returns a context acting for p.
func (f *fixture) as(t testing.TB, p contracts.Principal) context.Context {
	return f.As(t.Context(), p)
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
	ack, err := f.Runtime.JetStream().PublishMsg(t.Context(), msg)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// waitConsumed waits until the search consumer has settled (acked or dead-lettered) every
// message up to stream sequence seq.
func (f *fixture) waitConsumed(t testing.TB, seq uint64) {
	t.Helper()
	f.WaitConsumed(t, contracts.StreamCatalog.Name, ports.CatalogSearchedConsumer.Durable, seq)
}

func queries(items []contracts.RecentSearch) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Query
	}
	return out
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
