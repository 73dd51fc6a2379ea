package contracts

// Reliable messaging: inbox, dead letters, outbox.
var (
	// ErrNoEventID is returned for a message an idempotent inbox cannot key: its body is not an
	// envelope with an id and it has no Nats-Msg-Id header. It is permanent (dead-lettered at
	// once): redelivering the same bytes cannot give it an id.
	ErrNoEventID = def("event_id_missing", KindInvalid, "the message carries no event id, so the inbox cannot deduplicate it")
	// ErrDeliveriesExhausted is the cause recorded on a dead letter whose consumer never
	// acknowledged it within MaxDeliver deliveries (it crashed or hung every time).
	ErrDeliveriesExhausted = def("deliveries_exhausted", KindInternal, "the message was delivered MaxDeliver times without being acknowledged")
	// ErrDeadLetterNotFound is returned by dead-letter tooling for a sequence that is not (or no
	// longer) in the dead-letter stream.
	ErrDeadLetterNotFound = def("dead_letter_not_found", KindNotFound, "no dead letter with this sequence")
)
