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
		return r.TouchRecent(ctx, map[string][]domain.Recent{user: {{Query: query, At: at}}}, contracts.SearchRecentMax)
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
	// A history that does not grow: the same query searched again, later.
	at = at.Add(time.Second)
	if err := touch(users[0], "yoga"); err != nil {
		t.Fatalf("an existing history that does not grow: %v", err)
	}
	if ok, err := r.DeleteRecent(ctx, users[1], "yoga"); err != nil || !ok {
		t.Fatalf("DeleteRecent in a full shard = %v, %v", ok, err)
	}
	for u, want := range map[string][]string{users[0]: {"yoga"}, users[1]: nil, users[2]: nil} {
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
