package contracts

import "time"

// The subscription saga (choreography, no orchestrator). Every step is an event through the
// emitting service's outbox and is consumed through the receiving service's inbox:
//
//	subscription.requested ─► catalog reserves a seat ─► catalog.seat_reserved ─► billing charges
//	                                         └─► catalog.seat_unavailable ─► subscription CANCELLED (nothing charged or held)
//	billing.payment_succeeded ─► subscription ACTIVE
//	billing.payment_failed    ─► subscription CANCELLING (payment_failed), and catalog releases the seat
//	    ─► catalog.seat_released ─► subscription CANCELLED (nothing to refund)
//	subscription.cancel_requested (consumer cancels an ACTIVE one: by_consumer; the sweeper gives
//	up on a PENDING one: timed_out)
//	    ─► billing refunds (billing.refund_issued) and catalog releases the seat (catalog.seat_released)
//	    ─► subscription CANCELLED once both happened
//
// A saga is CANCELLED only when its compensation is done. Until then it is CANCELLING, and the
// subscription's sweeper re-emits subscription.cancel_requested every STUCK_AFTER (both
// answers are idempotent), so a compensation that was dead-lettered (the catalog's database
// down for longer than its retries) is asked for again instead of leaking the seat; such a
// saga is listed by `moa sagas stuck` and counted by the moa_sagas_stuck gauge meanwhile.
// Billing never gives a charge with an unknown outcome up while the provider may still land it:
// it sends it again under the same idempotency key (the provider does not charge a key twice).
//
// subscription.activated and subscription.cancelled are the terminal events: notify turns each
// into exactly one notification to the consumer and one to the seller.

// SubscriptionService owns subscriptions and their state machine.
var SubscriptionService = Service{Name: "subscription", Version: "1.0.0", Major: 1,
	Description: "subscriptions, their saga state machine and the sellers' dashboard"}

// SubscriptionState is a state of the saga's state machine.
type SubscriptionState string

// States. PENDING and CANCELLING are in progress; ACTIVE and CANCELLED are terminal for their saga.
const (
	SubPending    SubscriptionState = "PENDING"    // requested; waiting for seat and payment
	SubActive     SubscriptionState = "ACTIVE"     // paid, seat held
	SubCancelling SubscriptionState = "CANCELLING" // compensating; waiting for refund and seat release
	SubCancelled  SubscriptionState = "CANCELLED"  // terminal
)

// EnumValues lists the states (see Enumerated).
func (SubscriptionState) EnumValues() []string {
	return []string{string(SubPending), string(SubActive), string(SubCancelling), string(SubCancelled)}
}

// Subscription is a consumer's subscription to a product.
type Subscription struct {
	ID          string            `json:"id"`
	ProductID   string            `json:"product_id"`
	ConsumerID  string            `json:"consumer_id"`
	SellerID    string            `json:"seller_id"`
	State       SubscriptionState `json:"state"`
	PriceMinor  int64             `json:"price_minor"` // price snapshot at request time
	Currency    string            `json:"currency"`
	Period      BillingPeriod     `json:"billing_period"`
	Reason      string            `json:"reason,omitempty"` // why it was cancelled
	RefundMinor int64             `json:"refund_minor,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ActiveUntil *time.Time        `json:"active_until,omitempty"`
}

// SubscribeRequest starts a saga for the calling consumer.
type SubscribeRequest struct {
	ProductID string `json:"product_id"`
	// IdempotencyKey makes a retried subscribe return the same subscription.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Validate checks the product id.
func (r SubscribeRequest) Validate() error {
	if err := ValidateUUID("product_id", r.ProductID); err != nil {
		return err
	}
	if len(r.IdempotencyKey) > maxIdempotencyKeyLen {
		return ErrValidation.OnField("idempotency_key", "idempotency_key is longer than %d bytes", maxIdempotencyKeyLen)
	}
	return nil
}

// maxIdempotencyKeyLen bounds SubscribeRequest.IdempotencyKey, in bytes.
const maxIdempotencyKeyLen = 128

// Rules states Validate's rules (see Rules).
func (SubscribeRequest) Rules() Rules {
	return Rules{Fields: fields("product_id", ruleUUID,
		"idempotency_key", Rule{MaxLength: maxIdempotencyKeyLen, MaxBytes: maxIdempotencyKeyLen})}
}

// SubscriptionRef names one subscription.
type SubscriptionRef struct {
	ID string `json:"id"`
}

// Validate checks the id.
func (r SubscriptionRef) Validate() error {
	return ValidateUUID("id", r.ID)
}

// Rules states Validate's rules (see Rules).
func (SubscriptionRef) Rules() Rules { return Rules{Fields: fields("id", ruleUUID)} }

// SubscriptionList is a list of subscriptions.
type SubscriptionList struct {
	Items []Subscription `json:"items"`
}

// ProductRefID names a product (for the dashboard and subscriber queries).
type ProductRefID struct {
	ProductID string `json:"product_id"`
}

// Validate checks the id.
func (r ProductRefID) Validate() error {
	return ValidateUUID("product_id", r.ProductID)
}

// Rules states Validate's rules (see Rules).
func (ProductRefID) Rules() Rules { return Rules{Fields: fields("product_id", ruleUUID)} }

// Subscribers lists the consumers with an ACTIVE subscription to a product.
type Subscribers struct {
	ProductID   string   `json:"product_id"`
	ConsumerIDs []string `json:"consumer_ids"`
}

// Dashboard is the seller's read model for one product (a CQRS projection fed by events).
type Dashboard struct {
	ProductID         string `json:"product_id"`
	SellerID          string `json:"seller_id"`
	ActiveSubscribers int64  `json:"active_subscribers"`
	RevenueMinor      int64  `json:"revenue_minor"` // charged minus refunded
	Currency          string `json:"currency"`
	Churned           int64  `json:"churned"` // cancelled after having been active
	Failed            int64  `json:"failed"`  // never became active (no seat, payment failed)
	// Days are the product's last 30 days that had a fact (UTC days, by when the events
	// occurred), oldest first; days without one are left out. Absent from older services.
	Days []DashboardDay `json:"days,omitempty"`
}

// DashboardDay is what one product gained and lost on one day (UTC).
type DashboardDay struct {
	Day               string `json:"day"`                // YYYY-MM-DD
	Subscribed        int64  `json:"subscribed"`         // became active that day
	Churned           int64  `json:"churned"`            // cancelled after having been active
	Failed            int64  `json:"failed"`             // never became active
	ChargedMinor      int64  `json:"charged_minor"`      // charged that day
	RefundedMinor     int64  `json:"refunded_minor"`     // refunded that day
	ActiveSubscribers int64  `json:"active_subscribers"` // at the end of the day
}

// DashboardList is a seller's dashboards.
type DashboardList struct {
	Items []Dashboard `json:"items"`
}

// Subscription endpoints.
var (
	SubscriptionSubscribe = Endpoint[SubscribeRequest, Subscription]{Service: SubscriptionService, Name: "subscribe", Access: AccessConsumer,
		Description: "consumer: start subscribing to a product (the saga runs asynchronously)"}
	SubscriptionGet = Endpoint[SubscriptionRef, Subscription]{Service: SubscriptionService, Name: "get", Access: AccessSignedIn, Owner: true, Idempotent: true,
		Description: "the consumer or the product's seller: one subscription"}
	SubscriptionMine = Endpoint[Empty, SubscriptionList]{Service: SubscriptionService, Name: "mine", Access: AccessConsumer, Idempotent: true,
		Description: "consumer: my subscriptions"}
	SubscriptionCancel = Endpoint[SubscriptionRef, Subscription]{Service: SubscriptionService, Name: "cancel", Access: AccessConsumer, Owner: true,
		Description: "consumer: cancel an active subscription (pro-rata refund, seat released)"}
	SubscriptionSubscribers = Endpoint[ProductRefID, Subscribers]{Service: SubscriptionService, Name: "subscribers", Access: AccessSeller | AccessInternal, Owner: true, Idempotent: true,
		Description: "the product's seller or a service: consumers with an active subscription"}
	SubscriptionDashboard = Endpoint[Empty, DashboardList]{Service: SubscriptionService, Name: "dashboard", Access: AccessSeller, Idempotent: true,
		Description: "seller: active subscribers, revenue and churn per product"}
)

// StuckSagasRequest asks for the sagas that have stayed in PENDING or CANCELLING for longer
// than OlderThanSeconds (0: the service's own stuck deadline).
type StuckSagasRequest struct {
	OlderThanSeconds int64 `json:"older_than_seconds,omitempty"`
	Limit            int   `json:"limit,omitempty"` // 0: 100; at most 1000
}

// Validate checks the bounds.
func (r StuckSagasRequest) Validate() error {
	if r.OlderThanSeconds < 0 {
		return ErrValidation.OnField("older_than_seconds", "older_than_seconds must not be negative")
	}
	if r.Limit < 0 || r.Limit > StuckSagasMax {
		return ErrValidation.OnField("limit", "limit must be between 0 and %d", StuckSagasMax)
	}
	return nil
}

// StuckSagasMax bounds StuckSagasRequest.Limit.
const StuckSagasMax = 1000

// Rules states Validate's rules (see Rules).
func (StuckSagasRequest) Rules() Rules {
	return Rules{Fields: fields("older_than_seconds", Rule{Min: ptr64(0)}, "limit", limitRule(StuckSagasMax))}
}

// StuckSaga is one saga in progress past its deadline.
type StuckSaga struct {
	ID         string            `json:"id"`
	ProductID  string            `json:"product_id"`
	ConsumerID string            `json:"consumer_id"`
	State      SubscriptionState `json:"state"`
	Reason     string            `json:"reason,omitempty"`
	Nudges     int               `json:"nudges"` // how often the sweeper re-emitted its last step
	Since      time.Time         `json:"since"`  // when it entered its state
}

// StuckSagas lists stuck sagas, oldest first; Count is the total, Items at most Limit of them.
type StuckSagas struct {
	Count int64       `json:"count"`
	Items []StuckSaga `json:"items"`
}

// RebuildResult reports a projection rebuild.
type RebuildResult struct {
	Events   int64 `json:"events"`   // events replayed from the streams
	Products int64 `json:"products"` // dashboard rows after the rebuild
}

// Operator endpoints: on the internal bus only (the edge does not route them), for `moa sagas
// stuck` and `moa projections rebuild`.
var (
	SubscriptionStuck = Endpoint[StuckSagasRequest, StuckSagas]{Service: SubscriptionService, Name: "stuck", Access: AccessOperator, Idempotent: true,
		Description: "operator: sagas in PENDING or CANCELLING past the deadline"}
	SubscriptionRebuildDashboard = Endpoint[Empty, RebuildResult]{Service: SubscriptionService, Name: "rebuild_dashboard", Access: AccessOperator,
		Timeout: 10 * time.Minute, Description: "operator: rebuild the sellers' dashboard projection by replaying the streams"}
)

// SubscriptionRequestedData starts the saga. Price and seller are snapshots taken from the
// catalog when the consumer subscribed.
type SubscriptionRequestedData struct {
	SubscriptionID string        `json:"subscription_id"`
	ProductID      string        `json:"product_id"`
	ConsumerID     string        `json:"consumer_id"`
	SellerID       string        `json:"seller_id"`
	PriceMinor     int64         `json:"price_minor"`
	Currency       string        `json:"currency"`
	Period         BillingPeriod `json:"billing_period"`
}

// SubscriptionCancelRequestedData asks billing to refund and catalog to release the seat.
type SubscriptionCancelRequestedData struct {
	SubscriptionID string `json:"subscription_id"`
	ProductID      string `json:"product_id"`
	ConsumerID     string `json:"consumer_id"`
	SellerID       string `json:"seller_id"`
	RefundMinor    int64  `json:"refund_minor"`
	Currency       string `json:"currency"`
}

// SubscriptionTerminalData is the body of the terminal events.
type SubscriptionTerminalData struct {
	SubscriptionID string            `json:"subscription_id"`
	ProductID      string            `json:"product_id"`
	ConsumerID     string            `json:"consumer_id"`
	SellerID       string            `json:"seller_id"`
	State          SubscriptionState `json:"state"`
	AmountMinor    int64             `json:"amount_minor"` // charged (activated) or refunded (cancelled)
	Currency       string            `json:"currency"`
	Reason         string            `json:"reason,omitempty"` // seat_unavailable, payment_failed, by_consumer, timed_out
	WasActive      bool              `json:"was_active"`       // cancelled after having been active (churn)
}

// Subscription events; the key is the subscription id.
var (
	SubscriptionRequested       = Event[SubscriptionRequestedData]{Stream: StreamSubscription, Domain: "subscription", Name: "requested", Version: 1}
	SubscriptionCancelRequested = Event[SubscriptionCancelRequestedData]{Stream: StreamSubscription, Domain: "subscription", Name: "cancel_requested", Version: 1}
	SubscriptionActivated       = Event[SubscriptionTerminalData]{Stream: StreamSubscription, Domain: "subscription", Name: "activated", Version: 1}
	SubscriptionCancelled       = Event[SubscriptionTerminalData]{Stream: StreamSubscription, Domain: "subscription", Name: "cancelled", Version: 1}
)

// SeatData is the body of the catalog's seat events; the key is the subscription id.
type SeatData struct {
	SubscriptionID string `json:"subscription_id"`
	ProductID      string `json:"product_id"`
	Reason         string `json:"reason,omitempty"` // for seat_unavailable: sold_out, product_deleted
	// The saga's snapshot, carried on by seat_reserved so that billing can charge without
	// asking anyone: what to charge, in which currency, on whose behalf.
	ConsumerID  string `json:"consumer_id,omitempty"`
	SellerID    string `json:"seller_id,omitempty"`
	AmountMinor int64  `json:"amount_minor,omitempty"`
	Currency    string `json:"currency,omitempty"`
}

// Seat events, emitted by catalog (it owns capacity).
var (
	SeatReserved    = Event[SeatData]{Stream: StreamCatalog, Domain: "catalog", Name: "seat_reserved", Version: 1}
	SeatUnavailable = Event[SeatData]{Stream: StreamCatalog, Domain: "catalog", Name: "seat_unavailable", Version: 1}
	SeatReleased    = Event[SeatData]{Stream: StreamCatalog, Domain: "catalog", Name: "seat_released", Version: 1}
)

func init() {
	register(SubscriptionSubscribe, SubscriptionGet, SubscriptionMine, SubscriptionCancel, SubscriptionSubscribers,
		SubscriptionDashboard, SubscriptionStuck, SubscriptionRebuildDashboard, SubscriptionRequested, SubscriptionCancelRequested, SubscriptionActivated,
		SubscriptionCancelled, SeatReserved, SeatUnavailable, SeatReleased)
}
