package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Per-key order across crashes and redeliveries. A keyed consumer applies a key's events in the
// order they reach it, and after a crash that is not the order they were emitted in: the dead
// instance's unacked events come back only when their ack deadline passes, while the events it
// never received come at once. So order cannot rest on delivery; it rests on a number.
//
// Emit gives each event the next version of its subject (event type and key: a consumer's
// filter takes all of a subject's events or none, so the versions it sees have no holes),
// in the envelope's key_version. The version is taken in the event's transaction and its row
// stays locked until the commit, so versions commit in order and a rolled-back event leaves no
// hole. The inbox records, per consumer and subject, the last version applied, in the effect's
// transaction; an event whose predecessor is not applied yet is answered bus.NotYet, and the
// keyed consumer parks it until the predecessor has run (see bus.KeyOrder). Events without a
// version (written before this, or published directly with bus.Emit) keep the plain behaviour.

// versionedEnvelope is the envelope as the outbox stores it.
type versionedEnvelope struct {
	contracts.Envelope
	KeyVersion int64 `json:"key_version"` // bus.EnvelopeKeyVersion
}

// unstampedEnvelope is env's stored body with key_version 0, its last field: Emit checks the
// size of this one body (allowing keyVersionRoom) and its INSERT writes the real version into it,
// so the envelope is marshalled once and a refused event never takes a version.
func unstampedEnvelope(env contracts.Envelope) ([]byte, error) {
	return json.Marshal(versionedEnvelope{Envelope: env})
}

// keyVersionRoom is what a real version may add to an unstamped body: up to 19 digits for its 0.
const keyVersionRoom = len("9223372036854775807") - 1

// awaitTurn lets m's handler run only if m is the next version of its subject for consumer,
// and records that it is applied (in tx, so only if the handler's effect commits). One
// statement locks the record (creating it), moves it to m's version when that is the next one
// (or when the consumer accepts the gap or does not keep order), and returns it:
//   - equal to m's version: m is next (or replayed at its own version): it runs;
//   - higher: m is older than what was applied (a replay, or an event whose gap was accepted
//     before it came): it runs, and the record stays;
//   - lower: an earlier event is missing: bus.NotYet, and tx rolls back.
func awaitTurn(ctx context.Context, tx pgx.Tx, consumer string, m *bus.Msg) error {
	v, ok := bus.KeyVersion(m)
	if !ok {
		return nil
	}
	ordered, gapAccepted := bus.KeyOrder(ctx)
	force := !ordered || gapAccepted
	var now int64
	err := tx.QueryRow(ctx, turnStatement("$1", "$2", "$3::bigint", "$4::boolean"), consumer, m.Subject, v, force).Scan(&now)
	if err != nil {
		return fmt.Errorf("inbox: version of %s: %w", m.Subject, err)
	}
	if now < v {
		return bus.NotYet("%s version %d: version %d was applied last", m.Subject, v, now)
	}
	return nil
}

// turnStatement is awaitTurn's one statement over SQL expressions for the consumer, the
// subject, m's version (a bigint) and whether to accept a gap (a boolean): placeholders when
// awaitTurn runs it on its own, quoted literals when the batched inbox sends it in the
// savepoint's round trip (turnSQL).
func turnStatement(consumer, subject, version, force string) string {
	return `INSERT INTO moa_inbox_key_versions AS k (consumer, subject, version)
		VALUES (` + consumer + `, ` + subject + `, CASE WHEN ` + version + ` = 1 OR ` + force + ` THEN ` + version + ` ELSE 0 END)
		ON CONFLICT (consumer, subject) DO UPDATE SET version =
			CASE WHEN ` + force + ` OR k.version = ` + version + ` - 1 THEN GREATEST(k.version, ` + version + `) ELSE k.version END
		RETURNING version`
}
