package outbox

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// helperEnv, set in a child process's environment, makes it a crash-test helper.
const helperEnv = "MOA_OUTBOX_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// A crash-test child: run only TestHelperProcess (selected by -test.run), without the
		// shared PostgreSQL of moatest.Main (the parent owns the database).
		os.Exit(m.Run())
	}
	moatest.Main(m)
}

// testStream is where the tests' events go.
var testStream = contracts.StreamSpec{
	Name: "OUTBOXTEST", Subjects: []string{"evt.otest.>"}, Storage: contracts.FileStorage,
	Replicas: 1, Retention: contracts.LimitsRetention, MaxAge: time.Hour, Duplicates: 10 * time.Minute, Critical: true,
}

type happened struct {
	N    int       `json:"n"`
	At   time.Time `json:"at"`
	Fail bool      `json:"fail,omitempty"`
}

var evHappened = contracts.Event[happened]{Stream: testStream, Domain: "otest", Name: "happened", Version: 1}

type followed struct {
	N int `json:"n"`
}

var evFollowed = contracts.Event[followed]{Stream: testStream, Domain: "otest", Name: "followed", Version: 1}

func quietLogger() *slog.Logger {
	if os.Getenv("MOA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newPool opens a pool on url and migrates it.
func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctxT(t, time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctxT(t, time.Minute), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func newRuntime(t testing.TB, nc *nats.Conn) *bus.Runtime {
	t.Helper()
	rt, err := bus.New(nc, bus.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	if err := rt.EnsureStreams(ctxT(t, 30*time.Second), testStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	return rt
}

func startRelay(t testing.TB, pool *pgxpool.Pool, rt *bus.Runtime, opts RelayOptions) *Relay {
	t.Helper()
	r := StartRelay(context.Background(), pool, rt, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("relay stop: %v", err)
		}
	})
	return r
}

// emitN commits n events, one transaction each, with Transact.
func emitN(t testing.TB, pool *pgxpool.Pool, from, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		err := Transact(ctxT(t, 30*time.Second), pool, func(ctx context.Context, tx pgx.Tx) error {
			env, err := Emit(ctx, tx, "test", evHappened, keyOf(i), happened{N: i, At: time.Now()})
			ids = append(ids, env.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func keyOf(i int) string { return "k" + strconv.Itoa(i%16) }

// seen is a concurrency-safe record of delivered event ids.
type seen struct {
	mu   sync.Mutex
	ids  map[string]int
	dups int
}

func newSeen() *seen { return &seen{ids: map[string]int{}} }

func (s *seen) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id]++
	if s.ids[id] > 1 {
		s.dups++
	}
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func (s *seen) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id] > 0
}

// unpublished counts outbox rows the relay has not marked yet.
func unpublished(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctxT(t, 10*time.Second), `SELECT count(*) FROM moa_outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func outboxRows(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctxT(t, 10*time.Second), `SELECT count(*) FROM moa_outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// readStream returns the Nats-Msg-Id of every message in the test stream.
func readStream(t testing.TB, js jetstream.JetStream) []string {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	st, err := js.Stream(ctx, testStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := int(info.State.Msgs)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, total)
	for len(ids) < total {
		batch, err := cons.Fetch(min(1000, total-len(ids)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
			got++
		}
		if got == 0 {
			t.Fatalf("read %d of %d stream messages: %v", len(ids), total, batch.Error())
		}
	}
	return ids
}
