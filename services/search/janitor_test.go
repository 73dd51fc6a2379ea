package search_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search"
)

func TestJanitorExpiresWhatLeftEveryWindow(t *testing.T) {
	t.Parallel()
	f := startWith(t, map[string]string{"JANITOR_INTERVAL": "50ms"})
	user := authntest.Consumer()
	old, _ := f.emit(t, user.UserID, "old search", time.Now().Add(-30*time.Hour))
	fresh, seq := f.emit(t, user.UserID, "fresh search", time.Now())
	f.waitConsumed(t, seq)
	// A counter for a bucket that long gone, as an instance that ran then would have left.
	gone := time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)
	if _, err := f.Mongo.Collection("counters").InsertOne(t.Context(), raw{"_id": "old", "t": raw{
		base64.RawURLEncoding.EncodeToString([]byte("old search")) + "~" + strconv.FormatInt(gone.Unix(), 10): 9,
	}}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 10*time.Second, func() bool {
		a, err1 := f.Mongo.Collection("searches").CountDocuments(t.Context(), raw{"_id": old.ID})
		b, err2 := f.Mongo.Collection("counters").CountDocuments(t.Context(), raw{"_id": "old"})
		return err1 == nil && err2 == nil && a == 0 && b == 0
	}, "the janitor deletes the expired search and counter")
	if n, err := f.Mongo.Collection("searches").CountDocuments(t.Context(), raw{"_id": fresh.ID}); err != nil || n != 1 {
		t.Fatalf("the fresh search is gone too (%d, %v)", n, err)
	}
	// History is not subject to the window: the old search stays in the user's recent list.
	r, err := f.search.Recent(f.as(t, user), 0)
	if err != nil || len(r) != 2 {
		t.Fatalf("recent = %q, %v; want both searches", queries(r), err)
	}
}

func TestPopularCountsEveryConcurrentSearchOnce(t *testing.T) {
	t.Parallel()
	f := start(t)
	const users = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last uint64
	for range users {
		wg.Go(func() {
			_, seq := f.emit(t, authntest.Consumer().UserID, "Hot Query", time.Now())
			mu.Lock()
			last = max(last, seq)
			mu.Unlock()
		})
	}
	wg.Wait()
	f.waitConsumed(t, last)
	got := popular(t, f, contracts.SearchPopularRequest{})
	if len(got) != 1 || got[0] != (contracts.PopularSearch{Query: "hot query", Count: users}) {
		t.Fatalf("popular = %+v, want hot query counted %d times", got, users)
	}
}

func TestStartRejectsBadSettingsAndMissingStore(t *testing.T) {
	t.Parallel()
	rt, err := bus.New(moatest.NATS(t).Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background(), false) })
	for _, tc := range []struct {
		env  bus.Env
		want string
	}{
		{bus.Env{Runtime: rt}, "MongoURL"},
		{bus.Env{Runtime: rt, MongoURL: "mongodb://127.0.0.1:1", Setting: func(k string) string {
			return map[string]string{"JANITOR_INTERVAL": "soon"}[k]
		}}, "JANITOR_INTERVAL"},
		{bus.Env{Runtime: rt, MongoURL: "mongodb://127.0.0.1:1", Setting: func(k string) string {
			return map[string]string{"CONSUMER_CONCURRENCY": "0"}[k]
		}}, "CONSUMER_CONCURRENCY"},
	} {
		comp, err := search.Start(t.Context(), tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			if comp != nil {
				_ = comp.Stop(context.Background())
			}
			t.Fatalf("Start = %v, want an error about %s", err, tc.want)
		}
	}
}
