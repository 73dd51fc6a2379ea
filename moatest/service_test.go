package moatest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// The kit's own test drives a tiny stand-in for the search service: record and recent on
// PostgreSQL behind token checks, a setting, and an event per recorded query.

var (
	settingPrefix = bus.StringSetting("PREFIX", "", "prepended to every recorded query")
	// tinyStream is the stand-in's own: the real search service emits no events, and
	// contracts declares no stream for its domain.
	tinyStream = contracts.StreamSpec{
		Name: "SEARCH", Description: "the stand-in's recorded queries", Subjects: []string{"evt.search.>"},
		Storage: contracts.FileStorage, Replicas: 1, Retention: contracts.LimitsRetention,
		MaxAge: 7 * 24 * time.Hour, Duplicates: 2 * time.Hour,
	}
	tinyRecorded = contracts.Event[contracts.SearchRecordRequest]{Stream: tinyStream, Domain: "search", Name: "recorded", Version: 1}
)

func startTiny(ctx context.Context, env bus.Env) (bus.Component, error) {
	rt := env.Runtime
	prefix, err := env.String(settingPrefix)
	if err != nil {
		return nil, err
	}
	if err := rt.EnsureStreams(ctx, tinyStream); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, env.PostgresURL)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS searches (user_id text, query text, n bigserial)`); err != nil {
		pool.Close()
		return nil, err
	}
	svc, err := rt.AddService(contracts.SearchService)
	if err != nil {
		pool.Close()
		return nil, err
	}
	svc.UseVerifier(authn.NewVerifier(rt.Client()))
	// svc.Stop, not the micro service's: micro drains its subscriptions asynchronously, so a
	// request routed here just before the unsubscribe would otherwise reach a closed pool.
	stop := bus.Stopper(func(ctx context.Context) error { err := svc.Stop(ctx); pool.Close(); return err })
	err = errors.Join(
		bus.Handle(svc, contracts.SearchRecord, func(ctx context.Context, req contracts.SearchRecordRequest) (contracts.SearchRecordResponse, error) {
			p, _ := bus.Caller(ctx)
			q := prefix + req.Query
			if _, err := pool.Exec(ctx, `INSERT INTO searches (user_id, query) VALUES ($1, $2)`, p.UserID, q); err != nil {
				return contracts.SearchRecordResponse{}, err
			}
			_, err := bus.Emit(ctx, rt, "search", tinyRecorded, p.UserID, contracts.SearchRecordRequest{Query: q})
			return contracts.SearchRecordResponse{Query: q}, err
		}),
		bus.Handle(svc, contracts.SearchRecent, func(ctx context.Context, _ contracts.SearchRecentRequest) (contracts.SearchRecentResponse, error) {
			p, _ := bus.Caller(ctx)
			rows, err := pool.Query(ctx, `SELECT query FROM searches WHERE user_id = $1 ORDER BY n DESC`, p.UserID)
			if err != nil {
				return contracts.SearchRecentResponse{}, err
			}
			defer rows.Close()
			var out contracts.SearchRecentResponse
			for rows.Next() {
				var r contracts.RecentSearch
				if err := rows.Scan(&r.Query); err != nil {
					return out, err
				}
				out.Items = append(out.Items, r)
			}
			return out, rows.Err()
		}),
	)
	if err != nil {
		_ = stop(ctx)
		return nil, err
	}
	return stop, nil
}

func recent(t *testing.T, ctx context.Context, k *moatest.Kit[bus.Component]) []string {
	t.Helper()
	items, err := k.Client.Search.Recent(ctx, 0)
	if err != nil {
		t.Fatalf("recent: %v", err)
	}
	var qs []string
	for _, it := range items {
		qs = append(qs, it.Query)
	}
	return qs
}

func TestServiceKit(t *testing.T) {
	t.Parallel()
	s := moatest.Service(t, startTiny, moatest.With{Postgres: true, Declared: []bus.Setting{settingPrefix},
		Settings: map[string]string{"PREFIX": "kit-"}})
	alice, bob := authntest.Consumer(), authntest.Consumer()
	asAlice := s.As(t.Context(), alice)

	// The settings reach Start, the issuer's tokens pass the service's verifier.
	rec, err := s.Client.Search.Record(asAlice, "socks")
	if err != nil || rec.Query != "kit-socks" {
		t.Fatalf("record = %+v, %v; want the query with the configured prefix", rec, err)
	}
	_, err = s.Client.Search.Record(t.Context(), "socks")
	moatest.WantError(t, err, contracts.ErrUnauthenticated, "", "record without a token")
	_, err = s.Client.Search.Record(asAlice, "")
	moatest.WantError(t, err, contracts.ErrValidation, "query", "record blank")
	if _, err := s.Client.Search.Record(s.As(t.Context(), bob), "hats"); err != nil {
		t.Fatal(err)
	}

	// The pool is on the service's own database.
	var n int
	if err := s.Postgres.QueryRow(t.Context(), `SELECT count(*) FROM searches`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows (%v), want 2", n, err)
	}

	// Events finds the stream by subject and filters by it.
	evs := s.WaitEvents(t, "evt.search.recorded."+alice.UserID, 1)
	if evs[0].Type != "search.recorded" || !strings.Contains(string(evs[0].Data), "kit-socks") {
		t.Fatalf("event %s %s, want alice's search.recorded", evs[0].Type, evs[0].Data)
	}
	if all := s.Events(t, "evt.search.>"); len(all) != 2 {
		t.Fatalf("%d events on evt.search.>, want 2", len(all))
	}

	// Stop really stops the endpoints; Start brings them back on the same database.
	s.Stop(t)
	_, err = s.Client.Search.Recent(asAlice, 0)
	moatest.WantError(t, err, contracts.ErrNoResponders, "", "recent while stopped")
	s.Start(t)
	if got := recent(t, asAlice, s); !slices.Equal(got, []string{"kit-socks"}) {
		t.Fatalf("recent after start = %q", got)
	}
	s.Restart(t)

	// A replica serves the same data when the first instance is gone.
	r := s.Replica(t)
	s.Stop(t)
	if got := recent(t, s.As(t.Context(), bob), r); !slices.Equal(got, []string{"kit-hats"}) {
		t.Fatalf("recent from the replica = %q", got)
	}
}

func TestServiceKitWaitConsumed(t *testing.T) {
	t.Parallel()
	s := moatest.Service(t, startTiny, moatest.With{Postgres: true})
	if _, err := s.Client.Search.Record(s.As(t.Context(), authntest.Seller()), "lamps"); err != nil {
		t.Fatal(err)
	}
	ev := s.WaitEvents(t, "evt.search.>", 1)[0]
	st, err := s.Runtime.JetStream().Stream(t.Context(), tinyStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int32
	h := bus.OnEvent(tinyRecorded, func(_ context.Context, e bus.Event[contracts.SearchRecordRequest]) error {
		if e.ID == ev.ID {
			handled.Add(1)
		}
		return nil
	})
	c, err := s.Runtime.Consume(t.Context(), "tiny", contracts.ConsumerSpec{Stream: tinyStream, Durable: "tiny_reader"}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	// The ack floor moves once the handler has returned, never before.
	s.WaitConsumed(t, tinyStream.Name, "tiny_reader", info.State.LastSeq)
	if n := handled.Load(); n != 1 {
		t.Fatalf("handled %d times when the consumer had settled, want 1", n)
	}
}

func TestServiceRefusesUndeclaredSettings(t *testing.T) {
	t.Parallel()
	msg := failure(func(tb testing.TB) {
		moatest.Service(tb, startTiny, moatest.With{Declared: []bus.Setting{settingPrefix}, Settings: map[string]string{"PERFIX": "x"}})
	})
	if !strings.Contains(msg, `"PERFIX"`) {
		t.Fatalf("failure %q, want one naming the mistyped setting", msg)
	}
}

func TestWantError(t *testing.T) {
	t.Parallel()
	err := contracts.ErrValidation.OnField("query", "blank")
	if msg := failure(func(tb testing.TB) { moatest.WantError(tb, err, contracts.ErrValidation, "query") }); msg != "" {
		t.Fatalf("a matching error failed: %s", msg)
	}
	if msg := failure(func(tb testing.TB) { moatest.WantError(tb, err, contracts.ErrValidation, "limit") }); !strings.Contains(msg, `"limit"`) {
		t.Fatalf("the wrong field passed or said %q", msg)
	}
	if msg := failure(func(tb testing.TB) { moatest.WantError(tb, err, contracts.ErrNotFound, "", "lookup %d", 7) }); !strings.Contains(msg, "lookup 7") {
		t.Fatalf("the wrong code passed or said %q", msg)
	}
	if msg := failure(func(tb testing.TB) { moatest.WantError(tb, nil, contracts.ErrNotFound, "") }); msg == "" {
		t.Fatal("no error passed")
	}
}
