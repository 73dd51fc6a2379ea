// Package docinbox is the idempotent inbox for consumers whose effect is in MongoDB (or the
// embedded FerretDB Moa runs in development and tests).
//
// The PostgreSQL inbox (bus/outbox) commits the inbox row and the effect in one transaction.
// The document-store equivalent has to make do with what the server guarantees:
//
//   - Every write is atomic on one document. [UpdateOnce] puts the receipt (consumer and event
//     id) into the document it changes, in the same update, guarded by a filter that matches only
//     while the receipt is absent: the effect and its receipt land together or not at all, and a
//     duplicate matches nothing. [InsertOnce] inserts a document whose _id is derived from the
//     receipt (or is the caller's own deterministic id): a duplicate is a duplicate-key error.
//     Effects written this way are applied exactly once, on FerretDB and MongoDB alike.
//   - The [Inbox] middleware puts the receipt in the handler's context, skips events it has
//     already recorded as done in the moa_inbox collection, and records them after the handler
//     succeeded. That record is not atomic with the effect (a crash between the two re-runs the
//     handler); it saves the work of a duplicate, while UpdateOnce and InsertOnce are what make
//     the effect exactly-once. Side effects outside those calls are at-least-once.
//   - With [WithTransactions] (MongoDB replica sets and sharded clusters only) the handler runs
//     in a multi-document transaction that also inserts the moa_inbox record first: any number of
//     writes in the handler, through the context it is given, commit with the record or not at
//     all, as with PostgreSQL.
//
// What the embedded FerretDB 1.24 (SQLite) supports, checked by this package's tests:
//
//	Feature used here                                 FerretDB 1.24   MongoDB
//	------------------------------------------------  --------------  ----------------------
//	single-document atomic update with $ne guard      yes             yes
//	upsert; E11000 on a duplicate _id                 yes             yes
//	$push with $each                                  yes             yes
//	$push $slice (bounds the per-document receipts)   ignored (1)     yes
//	multi-document transactions (WithTransactions)    no (2)          replica set / sharded
//	TTL index to expire moa_inbox records             no (3)          yes
//
// (1) FerretDB accepts $slice and keeps every element: on FerretDB the receipts field of a
// document grows by one entry per event applied to it. Development data only; on MongoDB it
// keeps the last [DefaultWindow] receipts.
//
// (2) The first command of a transaction fails with FailedToParse (unknown field
// "startTransaction") and nothing is written. [SupportsTransactions] tells (it asks the
// server whether it is a replica set member or mongos); an Inbox with WithTransactions fails
// its messages with contracts.ErrUnavailable on a server without them.
//
// (3) Use [Cleanup] to delete old moa_inbox records; on MongoDB a TTL index on processed_at
// does the same.
//
// Order: events an outbox versioned (bus.KeyVersion) are applied in version order per subject
// in a keyed consumer, across crashes: the Inbox answers bus.NotYet for one whose predecessor
// it has not recorded in moa_inbox_key_versions, and records the version after the effect and
// before the moa_inbox record (in the transaction, WithTransactions).
//
// The receipts window: UpdateOnce recognises a duplicate only while its receipt is among the
// document's last [DefaultWindow] (see [WithWindow]). A consumer with per-key mailboxes applies
// a key's events in order, so a redelivery comes back long before the window rolls over; a
// `moa dlq replay` of a much older event finds the moa_inbox record instead, if the handler
// got as far as writing it.
package docinbox
