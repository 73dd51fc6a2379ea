package sagasuite

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/subscription"
)

// databaseDown makes service's database refuse connections and drops those it has, as an
// outage of that database alone would; restore (idempotent, also run at cleanup) ends it.
func (s *stack) databaseDown(service string) (restore func()) {
	s.t.Helper()
	u, err := url.Parse(s.urls[service])
	if err != nil {
		s.t.Fatal(err)
	}
	name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	admin := s.pools["subscription"]
	if service == "subscription" {
		admin = s.pools["billing"]
	}
	ctx := ctxT(s.t, 10*time.Second)
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		s.t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`,
		strings.TrimPrefix(u.Path, "/")); err != nil {
		s.t.Fatal(err)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		if _, err := admin.Exec(context.Background(), `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
			s.t.Errorf("restore %s database: %v", service, err)
		}
	}
	s.t.Cleanup(restore)
	return restore
}

// seatsAfterOutage reads a product's seat count once the catalog's database answers again
// (the test's own connections to it were dropped by the outage).
func (s *stack) seatsAfterOutage(productID string) int {
	s.t.Helper()
	var n int
	moatest.WaitFor(s.t, 20*time.Second, func() error {
		return s.pools["catalog"].QueryRow(ctxT(s.t, 5*time.Second), `SELECT seats_taken FROM products WHERE id = $1`, productID).Scan(&n)
	})
	return n
}

// A payment is declined while the catalog's database is down for longer than the seat
// consumer's retry budget (SAGA_MAX_DELIVER, made small here): the compensation that frees the
// seat is dead-lettered. The saga must not call itself done while the catalog holds its seat:
// it stays CANCELLING (listed as stuck) and its sweeper asks for the seat again once the
// database is back.
func TestDeclinedPaymentDuringCatalogOutageReleasesTheSeat(t *testing.T) {
	set := fastSettings()
	set["catalog"]["SAGA_MAX_DELIVER"] = "3"
	set["billing"]["SIM_DECLINE_RATE"] = "1"
	set["subscription"] = map[string]string{"SWEEP_INTERVAL": "200ms", "STUCK_AFTER": "2s", "TIMEOUT_AFTER": "10m"}
	s := newStack(t, set, "catalog", "subscription")
	seller, consumer := authntest.Seller(), authntest.Consumer()
	p := s.product(seller, 1, 1000)
	sub := s.subscribe(consumer, p.ID)
	moatest.Eventually(t, 20*time.Second, func() bool { return s.seatsTaken(p.ID) == 1 }, "the seat reserved")

	// The catalog's database goes down, then billing declines the payment.
	restore := s.databaseDown("catalog")
	s.start("billing")
	// The compensation's own dead letter, not any: the sweeper's nudges of the still-PENDING
	// saga (subscription.requested again) dead-letter at the catalog too while it is down.
	compensation := "evt." + contracts.PaymentFailedEvent.Type()
	moatest.Eventually(t, 60*time.Second, func() bool {
		for _, d := range deadLetterSubjects(t, s.rt.JetStream()) {
			if strings.Contains(d, compensation) {
				return true
			}
		}
		return false
	}, "the compensation ("+compensation+") dead-lettered after SAGA_MAX_DELIVER attempts")
	during, err := s.sub.Get(s.as(consumer), sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if during.State == contracts.SubCancelled {
		restore()
		if n := s.seatsAfterOutage(p.ID); n != 0 {
			t.Fatalf("saga is %s (%s) while the catalog still holds its seat (seats_taken %d)", during.State, during.Reason, n)
		}
	}
	// Still in progress, the saga shows as stuck to the operator and on the gauge.
	var out bytes.Buffer
	moatest.WaitFor(t, 20*time.Second, func() error {
		out.Reset()
		if err := subscription.SagasCommand(s.as(authntest.Operator()), s.nats.Conn(t), []string{"stuck", "--older-than", "1s"}, &out); err != nil {
			return err
		}
		if !strings.Contains(out.String(), sub.ID) || !strings.Contains(out.String(), "CANCELLING") || !strings.Contains(out.String(), "payment_failed") {
			return fmt.Errorf("not listed as a stuck CANCELLING payment_failed saga: %s\ndead letters: %v", out.String(), deadLetterSubjects(t, s.rt.JetStream()))
		}
		if g := s.metric("subscription", "moa_sagas_stuck"); g != 1 {
			return fmt.Errorf("moa_sagas_stuck %v, want 1", g)
		}
		return nil
	})
	t.Logf("moa sagas stuck during the outage:\n%s", out.String())

	// The database is back: the sweeper's re-driven compensation frees the seat, then the
	// saga ends CANCELLED.
	restore()
	got := s.settle(consumer, sub.ID, contracts.SubCancelled)
	if got.Reason != "payment_failed" {
		t.Fatalf("reason %q, want payment_failed", got.Reason)
	}
	if n := s.seatsAfterOutage(p.ID); n != 0 {
		t.Fatalf("saga is CANCELLED (payment_failed) while the catalog still holds its seat (seats_taken %d)", n)
	}
	s.quiet()
	if n, _ := s.ledger("charge", sub.ID); n != 0 {
		t.Fatalf("%d successful charges for a declined payment", n)
	}
	moatest.Eventually(t, 10*time.Second, func() bool { return s.metric("subscription", "moa_sagas_stuck") == 0 }, "gauge back to 0")
	if n := s.metric("subscription", "moa_saga_illegal_transitions_total"); n != 0 {
		t.Fatalf("moa_saga_illegal_transitions_total %v: the re-driven compensation's answers counted as illegal", n)
	}
}
