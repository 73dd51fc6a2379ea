package contracts

import "time"

// Storage is where a stream keeps its messages.
type Storage string

// Retention says when a stream may drop messages.
type Retention string

const (
	FileStorage   Storage = "file"
	MemoryStorage Storage = "memory"

	LimitsRetention    Retention = "limits"    // kept until MaxAge/MaxBytes: replayable
	WorkQueueRetention Retention = "workqueue" // removed once acked by its one consumer
	InterestRetention  Retention = "interest"  // removed once every consumer acked
)

// StreamSpec declares a JetStream stream. Services create or update the streams they use at
// start (idempotently) and refuse to start when a Critical stream on the server is weaker than
// declared here (memory instead of file, fewer replicas).
type StreamSpec struct {
	Name        string
	Description string
	Subjects    []string
	Storage     Storage
	// Replicas is the replica count in a cluster. On a single server the runtime caps it at 1
	// and the durability guard reports the difference instead of failing.
	Replicas  int
	Retention Retention
	MaxAge    time.Duration
	// Duplicates is the window in which a re-published event id is dropped by the server.
	// It must be longer than the longest time an outbox relay may take to re-publish.
	Duplicates time.Duration
	// Critical streams carry events whose loss is unacceptable (money, subscriptions).
	Critical bool
}

// Per-domain event streams. Every event subject is evt.<domain>.<type>.<key>.
var (
	StreamAuth = StreamSpec{
		Name: "AUTH", Description: "account events", Subjects: []string{"evt.auth.>"},
		Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Hour,
	}
	StreamCatalog = StreamSpec{
		Name: "CATALOG", Description: "product and seat events", Subjects: []string{"evt.catalog.>"},
		Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Hour, Critical: true,
	}
	StreamSubscription = StreamSpec{
		Name: "SUBSCRIPTION", Description: "subscription saga events", Subjects: []string{"evt.subscription.>"},
		Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
		MaxAge: 90 * 24 * time.Hour, Duplicates: 2 * time.Hour, Critical: true,
	}
	StreamBilling = StreamSpec{
		Name: "BILLING", Description: "payment and refund events", Subjects: []string{"evt.billing.>"},
		Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
		MaxAge: 90 * 24 * time.Hour, Duplicates: 2 * time.Hour, Critical: true,
	}
	StreamPost = StreamSpec{
		Name: "POST", Description: "blog post and comment events", Subjects: []string{"evt.post.>"},
		Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Hour,
	}
	StreamLog = StreamSpec{
		Name: "LOG", Description: "blog visit log events", Subjects: []string{"evt.log.>"},
		Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Hour,
	}
	// StreamDeadLetter holds messages that failed MaxDeliver times or with a permanent error.
	StreamDeadLetter = StreamSpec{
		Name: "DLQ", Description: "dead letters", Subjects: []string{"dlq.>"},
		Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Hour, Critical: true,
	}
)

// Streams lists every stream Moa declares. Each is emitted to or consumed by a service, which
// declares it at start (host.Service.Streams), so `moa serve` of any service alone finds what
// it needs. Search, notify and chat emit no events: their domains have no stream (SEARCH,
// NOTIFY and CHAT were declared once and never written to; a deployment that has them can
// delete them).
func Streams() []StreamSpec {
	return []StreamSpec{StreamAuth, StreamCatalog, StreamSubscription, StreamBilling, StreamPayout, StreamPost, StreamLog, StreamDeadLetter}
}

// ConsumerSpec declares a durable JetStream consumer.
type ConsumerSpec struct {
	Stream  StreamSpec
	Durable string // [A-Za-z0-9_-]+, unique per stream
	// FilterSubjects restricts the consumer to these subjects (event filters).
	FilterSubjects []string
	// AckWait is how long the server waits for an ack before redelivering. Handlers that run
	// longer are kept alive with InProgress by the runtime.
	AckWait time.Duration
	// MaxDeliver bounds deliveries; after the last one the message is dead-lettered.
	MaxDeliver int
	// Backoff is the redelivery delay schedule after a failure (the last value repeats).
	Backoff []time.Duration
}
