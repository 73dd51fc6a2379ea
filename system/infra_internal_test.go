package system

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/internal/pglocal"
	"github.com/moa-run/moa/moatest"
)

// Several instances of a service started at once (an orchestrator starting replicas) all find
// their database missing and all create it: each must come up, whichever wins. PostgreSQL
// answers the losers either duplicate_database (42P04) or, when the creations overlap
// closely, unique_violation (23505) on pg_database's name index.
func TestEnsureDatabaseWhenInstancesStartTogether(t *testing.T) {
	admin := moatest.Postgres(t)
	s := &System{pgAdmin: admin, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const rounds, instances = 6, 8
	for round := range rounds {
		db := fmt.Sprintf("together_%d_%s", round, uuid.NewString()[:8])
		t.Cleanup(func() { _ = pglocal.DropDatabase(context.Background(), admin, db) })
		u, err := withDatabase(admin, db)
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, instances)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range instances {
			wg.Go(func() {
				<-start
				errs[i] = s.ensureDatabase(ctx, u)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, instance %d of %d starting together: %v", round, i, instances, err)
			}
		}
	}
}
