package ports

import (
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/domain"
)

// The contract's forms of the subscription service's types, both ways. adapters.ApplyEnvelope
// reads the same event bodies when the dashboard is rebuilt from the streams.

func subscriptionView(s domain.Subscription) contracts.Subscription {
	return contracts.Subscription{
		ID: s.ID, ProductID: s.ProductID, ConsumerID: s.ConsumerID, SellerID: s.SellerID, State: s.State,
		PriceMinor: s.PriceMinor, Currency: s.Currency, Period: s.Period, Reason: s.Reason,
		RefundMinor: s.RefundMinor, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, ActiveUntil: s.ActiveUntil,
	}
}

func stuckView(s domain.Subscription) contracts.StuckSaga {
	return contracts.StuckSaga{ID: s.ID, ProductID: s.ProductID, ConsumerID: s.ConsumerID,
		State: s.State, Reason: s.Reason, Nudges: s.Nudges, Since: s.UpdatedAt}
}

func dashboardView(d app.DashboardRow) contracts.Dashboard {
	out := contracts.Dashboard{ProductID: d.ProductID, SellerID: d.SellerID, ActiveSubscribers: d.ActiveSubscribers,
		RevenueMinor: d.RevenueMinor, Currency: d.Currency, Churned: d.Churned, Failed: d.Failed}
	for _, x := range d.Days {
		out.Days = append(out.Days, contracts.DashboardDay{Day: x.Day.Format(time.DateOnly), Subscribed: x.Subscribed,
			Churned: x.Churned, Failed: x.Failed, ChargedMinor: x.ChargedMinor, RefundedMinor: x.RefundedMinor,
			ActiveSubscribers: x.ActiveSubscribers})
	}
	return out
}

func terminal(d contracts.SubscriptionTerminalData) domain.Terminal {
	return domain.Terminal{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, ConsumerID: d.ConsumerID,
		SellerID: d.SellerID, State: d.State, AmountMinor: d.AmountMinor, Currency: d.Currency, Reason: d.Reason,
		WasActive: d.WasActive}
}

func payment(d contracts.PaymentData) domain.Payment {
	return domain.Payment{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, AmountMinor: d.AmountMinor, Currency: d.Currency}
}
