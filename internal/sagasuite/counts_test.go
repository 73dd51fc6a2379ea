package sagasuite

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// sagaFacts is what every service recorded about one saga.
type sagaFacts struct {
	state          contracts.SubscriptionState
	reason         string
	wasActive      bool
	product        string
	chargeRecords  int   // provider ledger rows for the charge, any outcome: calls that reached it
	charges        int   // successful charges
	charged        int64 // their sum
	refundRecords  int
	refunded       int64
	consumer       string
	seller         string
	activatedEvts  int
	cancelledEvts  int
	notified       map[string]int // "<kind> <user>" → notifications
	paymentPending bool           // a payment step not settled in billing's table
}

// faultCounts are the suite's counts.
type faultCounts struct {
	sagas                               map[string]*sagaFacts
	started, recorded, tries            int
	byState                             map[contracts.SubscriptionState]int
	byReason                            map[string]int
	maxCharges, maxChargeRecords        int
	charges, declined, refunds          int
	refundOverCharge                    []string
	chargedNotActive                    int      // sagas the provider charged that did not end ACTIVE
	chargedNotRefunded                  []string // of those, the ones not refunded (in full unless ever active)
	seatsTaken, active                  int
	seatMismatch                        []string
	activated, cancelled, terminalWrong int
	terminalWrongs                      []string // which sagas, with their state and event counts
	notifications, notifyWrong          int
	deadLetters                         uint64
	deadLetterSubjects                  []string
	poison, dups, late                  int64
	unsettledPayments                   int
	lastChange                          time.Time
}

func count(t *testing.T, ctx context.Context, runs []*sagaRun, pools map[string]*pgxpool.Pool, js jetstream.JetStream, inj *injector) *faultCounts {
	t.Helper()
	c := &faultCounts{sagas: map[string]*sagaFacts{}, byState: map[contracts.SubscriptionState]int{}, byReason: map[string]int{},
		poison: inj.poisoned.Load(), dups: inj.dups.Load(), late: inj.lateN.Load()}
	var ids []string
	for _, r := range runs {
		c.started++
		c.tries += r.tries
		if id := r.subID(); id != "" {
			c.recorded++
			ids = append(ids, id)
			c.sagas[id] = &sagaFacts{}
		}
	}
	q := func(pool *pgxpool.Pool, sql string, args []any, scan func(pgxRows) error) {
		t.Helper()
		rows, err := pool.Query(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	q(pools["subscription"], `SELECT id::text, state, reason, was_active, product_id, consumer_id, seller_id FROM subscriptions WHERE id::text = ANY($1)`, []any{ids},
		func(r pgxRows) error {
			var id string
			var f sagaFacts
			if err := r.Scan(&id, &f.state, &f.reason, &f.wasActive, &f.product, &f.consumer, &f.seller); err != nil {
				return err
			}
			*c.sagas[id] = f
			c.byState[f.state]++
			if f.state == contracts.SubCancelled {
				c.byReason[f.reason]++
			}
			return nil
		})
	if err := pools["subscription"].QueryRow(ctx, `SELECT max(updated_at) FROM subscriptions`).Scan(&c.lastChange); err != nil {
		t.Fatal(err)
	}
	q(pools["billing"], `SELECT split_part(idempotency_key, ':', 2), kind, count(*), count(*) FILTER (WHERE succeeded),
		coalesce(sum(amount_minor) FILTER (WHERE succeeded), 0) FROM sim_provider_ledger GROUP BY 1, 2`, nil,
		func(r pgxRows) error {
			var id, kind string
			var records, ok int
			var sum int64
			if err := r.Scan(&id, &kind, &records, &ok, &sum); err != nil {
				return err
			}
			f := c.sagas[id]
			if f == nil {
				f = &sagaFacts{}
				c.sagas[id] = f // a charge for a saga nobody started: reported by check
			}
			if kind == "charge" {
				f.chargeRecords, f.charges, f.charged = records, ok, sum
				c.declined += records - ok
			} else {
				f.refundRecords, f.refunded = records, sum
				c.refunds += ok
			}
			return nil
		})
	q(pools["billing"], `SELECT subscription_id FROM payments WHERE status NOT IN ('SUCCEEDED', 'FAILED')`, nil, func(r pgxRows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		c.unsettledPayments++
		if f := c.sagas[id]; f != nil {
			f.paymentPending = true
		}
		return nil
	})
	seats := map[string]int{}
	q(pools["catalog"], `SELECT id::text, seats_taken FROM products`, nil, func(r pgxRows) error {
		var id string
		var n int
		if err := r.Scan(&id, &n); err != nil {
			return err
		}
		seats[id] = n
		c.seatsTaken += n
		return nil
	})
	activeBy := map[string]int{}
	for _, f := range c.sagas {
		c.maxCharges = max(c.maxCharges, f.charges)
		c.maxChargeRecords = max(c.maxChargeRecords, f.chargeRecords)
		c.charges += f.charges
		if f.state == contracts.SubActive {
			c.active++
			activeBy[f.product]++
		}
	}
	for id, n := range seats {
		if activeBy[id] != n {
			c.seatMismatch = append(c.seatMismatch, fmt.Sprintf("product %s: %d seats taken, %d active", id, n, activeBy[id]))
		}
	}
	for id, f := range c.sagas {
		if f.refunded > f.charged {
			c.refundOverCharge = append(c.refundOverCharge, id)
		}
		// Money the provider took for a saga that did not end ACTIVE goes back: all of it,
		// or a pro-rata part when the consumer cancelled an active subscription.
		if f.charged > 0 && f.state != contracts.SubActive {
			c.chargedNotActive++
			if f.refunded == 0 || (!f.wasActive && f.refunded != f.charged) {
				c.chargedNotRefunded = append(c.chargedNotRefunded, fmt.Sprintf("%s (%s %s: charged %d, refunded %d)", id, f.state, f.reason, f.charged, f.refunded))
			}
		}
	}
	seen := map[string]bool{}
	for _, env := range streamEvents(t, js, contracts.StreamSubscription.Name, "evt.subscription.*.*") {
		// The injected duplicates are copies of events (same envelope id): count events, not copies.
		if seen[env.ID] {
			continue
		}
		seen[env.ID] = true
		f := c.sagas[env.Key]
		switch {
		case f == nil:
		case env.Type == contracts.SubscriptionActivated.Type():
			f.activatedEvts++
			c.activated++
		case env.Type == contracts.SubscriptionCancelled.Type():
			f.cancelledEvts++
			c.cancelled++
		}
	}
	// The notifications notify stored: per saga, kind and user.
	q(pools["notify"], `SELECT data->>'subscription_id', kind, user_id, count(*) FROM notifications
		WHERE kind IN ('subscription.activated', 'subscription.cancelled') GROUP BY 1, 2, 3`, nil, func(r pgxRows) error {
		var id, kind, user string
		var n int
		if err := r.Scan(&id, &kind, &user, &n); err != nil {
			return err
		}
		f := c.sagas[id]
		if f == nil {
			return nil
		}
		if f.notified == nil {
			f.notified = map[string]int{}
		}
		f.notified[kind+" "+user] += n
		c.notifications += n
		return nil
	})
	for id, f := range c.sagas {
		wantAct, wantCan := 0, 0
		if f.wasActive {
			wantAct = 1
		}
		if f.state == contracts.SubCancelled {
			wantCan = 1
		}
		if f.activatedEvts != wantAct || f.cancelledEvts != wantCan {
			c.terminalWrong++
			c.terminalWrongs = append(c.terminalWrongs, fmt.Sprintf("%s (%s, was active %v): %d activated, %d cancelled events",
				id, f.state, f.wasActive, f.activatedEvts, f.cancelledEvts))
		}
		want := map[string]int{}
		if wantAct == 1 {
			want["subscription.activated "+f.consumer]++
			want["subscription.activated "+f.seller]++
		}
		if wantCan == 1 {
			want["subscription.cancelled "+f.consumer]++
			want["subscription.cancelled "+f.seller]++
		}
		if len(want) != len(f.notified) {
			c.notifyWrong++
			continue
		}
		for k, n := range want {
			if f.notified[k] != n {
				c.notifyWrong++
				break
			}
		}
	}
	c.deadLetters = deadLetters(t, js)
	c.deadLetterSubjects = deadLetterSubjects(t, js)
	return c
}

type pgxRows interface{ Scan(dest ...any) error }

// deadLetterSubjects lists "<consumer> <original subject>" of every dead letter.
func deadLetterSubjects(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	st, err := js.Stream(ctx, contracts.StreamDeadLetter.Name)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return nil
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		out = append(out, m.Header.Get(bus.HeaderDLQConsumer)+" "+m.Header.Get(bus.HeaderDLQSubject)+" ("+m.Header.Get(bus.HeaderDLQErrorCode)+")")
	}
	sort.Strings(out)
	return out
}
