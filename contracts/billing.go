package contracts

import "time"

// BillingService owns payments and refunds. It talks to a payment provider through an adapter;
// Moa ships a simulated provider (approve, decline, timeout with unknown outcome, latency).
var BillingService = Service{Name: "billing", Version: "1.0.0", Major: 1,
	Description: "payments and refunds through a payment-provider adapter"}

// PaymentStatus is the state of one charge or refund.
type PaymentStatus string

// Payment statuses. UNKNOWN is an ambiguous provider answer (a timeout): billing resolves it by
// querying the provider, never by charging again.
const (
	PaymentPending   PaymentStatus = "PENDING"
	PaymentSucceeded PaymentStatus = "SUCCEEDED"
	PaymentFailed    PaymentStatus = "FAILED"
	PaymentUnknown   PaymentStatus = "UNKNOWN"
)

// EnumValues lists the statuses (see Enumerated).
func (PaymentStatus) EnumValues() []string {
	return []string{string(PaymentPending), string(PaymentSucceeded), string(PaymentFailed), string(PaymentUnknown)}
}

// Payment is one charge or refund.
type Payment struct {
	ID             string        `json:"id"`
	SubscriptionID string        `json:"subscription_id"`
	Kind           string        `json:"kind"` // charge or refund
	AmountMinor    int64         `json:"amount_minor"`
	Currency       string        `json:"currency"`
	Status         PaymentStatus `json:"status"`
	ProviderRef    string        `json:"provider_ref,omitempty"`
	FailureCode    string        `json:"failure_code,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
}

// PaymentList lists payments.
type PaymentList struct {
	Items []Payment `json:"items"`
}

// SubscriptionPaymentsRequest asks for the payments of one subscription.
type SubscriptionPaymentsRequest struct {
	SubscriptionID string `json:"subscription_id"`
}

// Validate checks the id.
func (r SubscriptionPaymentsRequest) Validate() error {
	return ValidateUUID("subscription_id", r.SubscriptionID)
}

// Rules states Validate's rules (see Rules).
func (SubscriptionPaymentsRequest) Rules() Rules {
	return Rules{Fields: fields("subscription_id", ruleUUID)}
}

// BillingPayments lists a subscription's payments (its consumer or seller).
var BillingPayments = Endpoint[SubscriptionPaymentsRequest, PaymentList]{Service: BillingService, Name: "payments", Access: AccessSignedIn, Owner: true, Idempotent: true,
	Description: "the payments and refunds of one subscription"}

// PaymentData is the body of billing's events; the key is the subscription id.
type PaymentData struct {
	SubscriptionID string `json:"subscription_id"`
	PaymentID      string `json:"payment_id"`
	ProductID      string `json:"product_id"`
	// SellerID is the product's seller when the payment was made: payout credits them without
	// asking the catalog, which no longer knows a deleted product. Empty in older events.
	SellerID    string `json:"seller_id,omitempty"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
	FailureCode string `json:"failure_code,omitempty"` // for payment_failed: declined, provider_error
}

// Billing events.
var (
	PaymentSucceededEvent = Event[PaymentData]{Stream: StreamBilling, Domain: "billing", Name: "payment_succeeded", Version: 1}
	PaymentFailedEvent    = Event[PaymentData]{Stream: StreamBilling, Domain: "billing", Name: "payment_failed", Version: 1}
	RefundIssuedEvent     = Event[PaymentData]{Stream: StreamBilling, Domain: "billing", Name: "refund_issued", Version: 1}
)

func init() {
	register(BillingPayments, PaymentSucceededEvent, PaymentFailedEvent, RefundIssuedEvent)
}
