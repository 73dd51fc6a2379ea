package telemetry_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/telemetry"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// A saga whose payment is declined is on the recorder's timeline with its compensation: the
// billing.payment_failed event, and catalog giving the seat back (seat_released), every
// step found by the subscription id alone, with no OTLP endpoint configured (moa dev).
func TestDeclinedSagaTimelineShowsCompensation(t *testing.T) {
	rec := telemetry.NewRecorder(telemetry.DefaultRecentTraces)
	traces, err := telemetry.Setup(context.Background(), telemetry.Config{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	sys := systemtest.Boot(t,
		systemtest.Services("auth", "billing", "catalog", "notify", "subscription"),
		systemtest.Setting("billing", "SIM_DECLINE_RATE", "1"),
		systemtest.Configure(func(c *system.Config) { c.TracerProvider = traces.Provider }))
	c := sys.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seller := signupLogin(t, ctx, c, "seller@example.test", contracts.RoleSeller)
	product, err := bus.Call(bus.WithAuthToken(ctx, seller), c, contracts.CatalogCreateProduct, contracts.CreateProductRequest{
		Title: "Declined tea club", PriceAmount: 5900, Currency: "KRW", BillingPeriod: contracts.BillingMonthly,
		Terms: "Cancel any time.", Capacity: 4,
	})
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	buyer := signupLogin(t, ctx, c, "buyer@example.test", contracts.RoleConsumer)
	sub, err := bus.Call(bus.WithAuthToken(ctx, buyer), c, contracts.SubscriptionSubscribe,
		contracts.SubscribeRequest{ProductID: product.ID, IdempotencyKey: "declined"})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	var tl telemetry.Timeline
	has := func(pred func(telemetry.Step) bool) bool { return slices.ContainsFunc(tl.Steps, pred) }
	moatest.WaitFor(t, time.Minute, func() error {
		tl = rec.Timeline(sub.ID)
		for _, want := range []string{"billing.payment_failed", "catalog.seat_released"} {
			if !has(func(s telemetry.Step) bool { return s.Event == want && s.Compensation && s.Kind == "consumer" }) {
				return fmt.Errorf("no consumer of %s on the timeline yet (%d steps)", want, len(tl.Steps))
			}
		}
		return nil
	})
	if !has(func(s telemetry.Step) bool {
		return s.Name == "outbox publish billing.payment_failed" && s.Service == "billing" && s.Compensation
	}) {
		t.Errorf("billing's publishing of payment_failed is not a compensation step")
	}
	if has(func(s telemetry.Step) bool { return s.Event == "catalog.seat_reserved" && s.Compensation }) {
		t.Errorf("reserving the seat is marked a compensation")
	}
	for i := 1; i < len(tl.Steps); i++ {
		if tl.Steps[i].Offset < tl.Steps[i-1].Offset {
			t.Errorf("step %d starts before step %d", i, i-1)
		}
	}
	t.Logf("saga %s, %d steps over %.1f ms in %d trace(s):", sub.ID, len(tl.Steps), tl.Duration, len(tl.Traces))
	for _, s := range tl.Steps {
		mark := ""
		if s.Compensation {
			mark += " [compensation]"
		}
		if s.Retry {
			mark += " [retry]"
		}
		if s.Error != "" {
			mark += " [error " + s.Error + "]"
		}
		t.Logf("  +%7.1f ms %8.2f ms  %-13s %-9s %s%s", s.Offset, s.Duration, s.Service, s.Kind, s.Name, mark)
	}
}
