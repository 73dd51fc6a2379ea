package adapters

import (
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/domain"
)

// The bodies of the events the subscription service emits (through its outbox) and reads back
// (the dashboard's replay), mapped to and from the domain's types. ports maps the live
// dashboard feed the same way.

// requestedData is the body of subscription.requested.
func requestedData(s domain.Subscription) contracts.SubscriptionRequestedData {
	return contracts.SubscriptionRequestedData{
		SubscriptionID: s.ID, ProductID: s.ProductID, ConsumerID: s.ConsumerID, SellerID: s.SellerID,
		PriceMinor: s.PriceMinor, Currency: s.Currency, Period: s.Period,
	}
}

// cancelRequestedData is the body of subscription.cancel_requested.
func cancelRequestedData(s domain.Subscription) contracts.SubscriptionCancelRequestedData {
	return contracts.SubscriptionCancelRequestedData{
		SubscriptionID: s.ID, ProductID: s.ProductID, ConsumerID: s.ConsumerID, SellerID: s.SellerID,
		RefundMinor: s.RefundMinor, Currency: s.Currency,
	}
}

// terminalData is the body of subscription.activated and subscription.cancelled.
func terminalData(t domain.Terminal) contracts.SubscriptionTerminalData {
	return contracts.SubscriptionTerminalData{
		SubscriptionID: t.SubscriptionID, ProductID: t.ProductID, ConsumerID: t.ConsumerID, SellerID: t.SellerID,
		State: t.State, AmountMinor: t.AmountMinor, Currency: t.Currency, Reason: t.Reason, WasActive: t.WasActive,
	}
}

// terminalFact is terminalData read back.
func terminalFact(d contracts.SubscriptionTerminalData, at time.Time) domain.Terminal {
	return domain.Terminal{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, ConsumerID: d.ConsumerID,
		SellerID: d.SellerID, State: d.State, AmountMinor: d.AmountMinor, Currency: d.Currency, Reason: d.Reason,
		WasActive: d.WasActive, At: at}
}

// paymentFact is what the dashboard counts of billing's payment events.
func paymentFact(d contracts.PaymentData, at time.Time) domain.Payment {
	return domain.Payment{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, AmountMinor: d.AmountMinor, Currency: d.Currency, At: at}
}
