package docinbox

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
)

// VersionsCollection holds, per consumer and subject, the last version applied of the events
// an outbox versions (see bus.KeyVersion): what lets a keyed consumer keep a key's order across
// crashes and redeliveries. One document per subject.
const VersionsCollection = "moa_inbox_key_versions"

// turn is the ordering state of one versioned message.
type turn struct {
	id      string // the versions document: consumer/subject
	version int64
}

// awaitTurn answers bus.NotYet when m carries a version whose predecessor this consumer has not
// applied (and its keyed consumer has not given up on it); it returns the turn to record once
// m's effect is written, or nil for an unversioned message.
func awaitTurn(ctx context.Context, coll *mongo.Collection, consumer string, m *bus.Msg) (*turn, error) {
	v, ok := bus.KeyVersion(m)
	if !ok {
		return nil, nil
	}
	t := &turn{id: consumer + "/" + m.Subject, version: v}
	ordered, gapAccepted := bus.KeyOrder(ctx)
	if !ordered || gapAccepted || v == 1 {
		return t, nil
	}
	var doc struct {
		Version int64 `bson:"version"`
	}
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: t.id}}).Decode(&doc)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("docinbox: version of %s: %w", m.Subject, err)
	}
	if doc.Version < v-1 {
		return nil, bus.NotYet("%s version %d: version %d was applied last", m.Subject, v, doc.Version)
	}
	return t, nil
}

// record moves the consumer's version of the subject up to t's. It is written after the effect
// and before the moa_inbox record: a crash in between re-runs the handler (whose UpdateOnce and
// InsertOnce effects are exactly-once) and then records both, so a successor never waits for a
// version that was applied but not recorded.
func (t *turn) record(ctx context.Context, coll *mongo.Collection) error {
	if t == nil {
		return nil
	}
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: t.id}},
		bson.D{{Key: "$max", Value: bson.D{{Key: "version", Value: t.version}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("docinbox: record version of %s: %w", t.id, err)
	}
	return nil
}
