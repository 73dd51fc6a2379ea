package adapters

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/search/domain"
)

// A history shard stops growing at the size limit with an error that says why, and the
// histories already in it are still written, deleted and read.
func TestAFullHistoryShardRefusesNewUsersClearly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := moatest.MongoDB(t)
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	r := NewRepository(db)
	// Users of shard 0 only.
	var users []string
	for i := 0; len(users) < 3; i++ {
		if u := fmt.Sprintf("user-%d", i); historyShard(u) == 0 {
			users = append(users, u)
		}
	}
	at := time.Now()
	touch := func(user, query string) error {
		refused, err := r.TouchRecent(ctx, map[string][]domain.Recent{user: {{Query: query, At: at}}}, contracts.SearchRecentMax)
		if err == nil {
			err = refused[user]
		}
		return err
	}
	for _, u := range users[:2] {
		if err := touch(u, "yoga"); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := r.histories.FindOne(ctx, map[string]any{"_id": shardDoc(0)}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	r.maxShard = len(raw) + 10 // room for a few bytes, not for another user

	err = touch(users[2], "yoga")
	if !errors.Is(err, contracts.ErrInternal) || !strings.Contains(err.Error(), "history shard 0 would hold") {
		t.Fatalf("a new user in a full shard: %v, want the shard's size named", err)
	}
	// In one call with a user of another shard: only the user who does not fit is refused.
	other := "other"
	for i := 0; historyShard(other) == 0; i++ {
		other = fmt.Sprintf("other-%d", i)
	}
	refused, err := r.TouchRecent(ctx, map[string][]domain.Recent{users[2]: {{Query: "yoga", At: at}}, other: {{Query: "judo", At: at}}},
		contracts.SearchRecentMax)
	if err != nil || len(refused) != 1 || !errors.Is(refused[users[2]], contracts.ErrInternal) {
		t.Fatalf("TouchRecent of a user who fits and one who does not = %v, %v; want only %s refused", refused, err, users[2])
	}
	if got, err := r.Recent(ctx, other, "", contracts.SearchRecentMax); err != nil || len(got) != 1 || got[0].Query != "judo" {
		t.Fatalf("recent of %s = %+v, %v; want judo", other, got, err)
	}
	// A history that does not grow: the same query searched again, later, also once the shard
	// is over the limit (a smaller limit than it holds).
	r.maxShard = len(raw) - 100
	at = at.Add(time.Second)
	if err := touch(users[0], "yoga"); err != nil {
		t.Fatalf("an existing history that does not grow: %v", err)
	}
	if ok, err := r.DeleteRecent(ctx, users[1], "yoga"); err != nil || !ok {
		t.Fatalf("DeleteRecent in a full shard = %v, %v", ok, err)
	}
	for u, want := range map[string][]string{users[0]: {"yoga"}, users[1]: nil, users[2]: nil, other: {"judo"}} {
		got, err := r.Recent(ctx, u, "", contracts.SearchRecentMax)
		if err != nil {
			t.Fatal(err)
		}
		var qs []string
		for _, g := range got {
			qs = append(qs, g.Query)
		}
		if !slices.Equal(qs, want) {
			t.Fatalf("recent of %s = %q, want %q", u, qs, want)
		}
	}
}
