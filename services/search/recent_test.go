package search_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestRecordNormalisesAndRecentDeduplicates(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := f.as(t, authntest.Consumer())

	got, err := f.search.Record(ctx, "  Yoga \t CLASS ")
	if err != nil || got.Query != "yoga class" || got.At.IsZero() {
		t.Fatalf("Record = %+v, %v; want the normalised query and a time", got, err)
	}
	for _, q := range []string{"pilates", "요가", "YOGA   class"} {
		if _, err := f.search.Record(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	recent, err := f.search.Recent(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Re-searching "yoga class" moved it to the top instead of adding a second entry.
	if want := []string{"yoga class", "요가", "pilates"}; !slices.Equal(queries(recent), want) {
		t.Fatalf("recent = %q, want %q", queries(recent), want)
	}
	if !recent[0].At.After(recent[1].At) {
		t.Fatalf("recent is not newest first: %+v", recent)
	}
	if two, err := f.search.Recent(ctx, 2); err != nil || len(two) != 2 || two[0].Query != "yoga class" {
		t.Fatalf("Recent(limit 2) = %+v, %v", two, err)
	}
}

func TestRecentKeepsTheLastTwenty(t *testing.T) {
	t.Parallel()
	f := start(t)
	seller := authntest.Seller()
	ctx := f.as(t, seller) // sellers search too
	for i := range contracts.SearchRecentMax + 5 {
		if _, err := f.search.Record(ctx, fmt.Sprintf("query %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	recent, err := f.search.Recent(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != contracts.SearchRecentMax {
		t.Fatalf("%d recent searches, want %d: %q", len(recent), contracts.SearchRecentMax, queries(recent))
	}
	if first, last := recent[0].Query, recent[len(recent)-1].Query; first != "query 24" || last != "query 05" {
		t.Fatalf("recent runs %q .. %q, want query 24 .. query 05", first, last)
	}
	// The trim deleted the old entries rather than only hiding them.
	if stored := storedHistories(t, f)[seller.UserID]; len(stored) != contracts.SearchRecentMax {
		t.Fatalf("%d stored entries, want %d", len(stored), contracts.SearchRecentMax)
	}
}

func TestDeleteAndClearTouchOnlyTheCallersHistory(t *testing.T) {
	t.Parallel()
	f := start(t)
	alice, bob := f.as(t, authntest.Consumer()), f.as(t, authntest.Consumer())
	for _, q := range []string{"yoga", "pilates", "boxing"} {
		if _, err := f.search.Record(alice, q); err != nil {
			t.Fatal(err)
		}
		if _, err := f.search.Record(bob, q); err != nil {
			t.Fatal(err)
		}
	}

	// The query to delete is normalised like a recorded one.
	if ok, err := f.search.DeleteRecent(alice, "  PILATES "); err != nil || !ok {
		t.Fatalf("DeleteRecent = %v, %v; want true", ok, err)
	}
	if ok, err := f.search.DeleteRecent(alice, "pilates"); err != nil || ok {
		t.Fatalf("second DeleteRecent = %v, %v; want false and no error", ok, err)
	}
	if r, _ := f.search.Recent(alice, 0); !slices.Equal(queries(r), []string{"boxing", "yoga"}) {
		t.Fatalf("alice's recent after delete = %q", queries(r))
	}
	if n, err := f.search.ClearRecent(alice); err != nil || n != 2 {
		t.Fatalf("ClearRecent = %d, %v; want 2", n, err)
	}
	if r, err := f.search.Recent(alice, 0); err != nil || len(r) != 0 {
		t.Fatalf("alice's recent after clear = %q, %v", queries(r), err)
	}
	// Bob's history is his own: untouched by Alice's delete and clear.
	if r, _ := f.search.Recent(bob, 0); !slices.Equal(queries(r), []string{"boxing", "pilates", "yoga"}) {
		t.Fatalf("bob's recent = %q, want all three", queries(r))
	}
	if n, err := f.search.ClearRecent(alice); err != nil || n != 0 {
		t.Fatalf("clearing an empty history = %d, %v; want 0 and no error", n, err)
	}
}

func TestConcurrentRecordsOfOneQueryKeepOneEntry(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := f.as(t, authntest.Consumer())
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := f.search.Record(ctx, "same query"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Record: %v", err)
	}
	if r, err := f.search.Recent(ctx, 0); err != nil || len(r) != 1 {
		t.Fatalf("recent = %q, %v; want one entry", queries(r), err)
	}
	top, err := f.search.Popular(t.Context(), contracts.SearchPopularRequest{})
	if err != nil || len(top.Items) != 1 || top.Items[0].Count != 20 {
		t.Fatalf("popular = %+v, %v; want same query counted 20 times", top.Items, err)
	}
}

func TestIdentityComesFromTheToken(t *testing.T) {
	t.Parallel()
	f := start(t)
	user := authntest.Consumer()
	if _, err := f.search.Record(f.as(t, user), "yoga"); err != nil {
		t.Fatal(err)
	}
	noToken := t.Context()
	expired := bus.WithAuthToken(t.Context(), f.Issuer.Expired(user))
	forged := bus.WithAuthToken(t.Context(), f.Issuer.Forged(user))
	calls := map[string]func(ctx context.Context) error{
		"record":        func(ctx context.Context) error { _, err := f.search.Record(ctx, "x"); return err },
		"recent":        func(ctx context.Context) error { _, err := f.search.Recent(ctx, 0); return err },
		"delete_recent": func(ctx context.Context) error { _, err := f.search.DeleteRecent(ctx, "yoga"); return err },
		"clear_recent":  func(ctx context.Context) error { _, err := f.search.ClearRecent(ctx); return err },
	}
	for name, call := range calls {
		moatest.WantError(t, call(noToken), contracts.ErrUnauthenticated, "", name+" without a token")
		moatest.WantError(t, call(expired), contracts.ErrTokenExpired, "", name+" with an expired token")
		moatest.WantError(t, call(forged), contracts.ErrTokenInvalid, "", name+" with a forged token")
	}
	// None of the refused calls touched the user's history.
	if r, err := f.search.Recent(f.as(t, user), 0); err != nil || !slices.Equal(queries(r), []string{"yoga"}) {
		t.Fatalf("recent = %q, %v; want [yoga]", queries(r), err)
	}
	// suggest works without a token, but a token that is there must be valid.
	if _, err := f.search.Suggest(noToken, "yo", 0); err != nil {
		t.Fatalf("anonymous suggest: %v", err)
	}
	_, err := f.search.Suggest(expired, "yo", 0)
	moatest.WantError(t, err, contracts.ErrTokenExpired, "", "suggest with an expired token")
	if _, err := f.search.Popular(noToken, contracts.SearchPopularRequest{}); err != nil {
		t.Fatalf("anonymous popular: %v", err)
	}
}

// storedHistories reads every stored history, by user, from the history shards (the documents
// of the histories collection) as they are stored, not through the service's reads.
func storedHistories(t *testing.T, f *fixture) map[string][]string {
	t.Helper()
	cur, err := f.Mongo.Collection("histories").Find(t.Context(), raw{})
	if err != nil {
		t.Fatal(err)
	}
	var shards []struct {
		U map[string]string `bson:"u"`
	}
	if err := cur.All(t.Context(), &shards); err != nil {
		t.Fatal(err)
	}
	if len(shards) == 0 {
		t.Fatal("no history shard stored")
	}
	out := map[string][]string{}
	for _, s := range shards {
		for key, stored := range s.U {
			user, err := base64.RawURLEncoding.DecodeString(key)
			if err != nil {
				t.Fatalf("history key %q: %v", key, err)
			}
			// "<ts> <len> <query>" per entry (adapters.encodeItems).
			for rest := stored; rest != ""; {
				_, after, ok1 := strings.Cut(rest, " ")
				n, after, ok2 := strings.Cut(after, " ")
				l, err := strconv.Atoi(n)
				if !ok1 || !ok2 || err != nil || l > len(after) {
					t.Fatalf("history of %s: %q does not decode", user, stored)
				}
				out[string(user)] = append(out[string(user)], after[:l])
				rest = after[l:]
			}
		}
	}
	return out
}
