package docinbox

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/contracts"
)

// ReceiptsField is the document field UpdateOnce keeps its receipts in.
const ReceiptsField = "_moa_receipts"

var errNoReceipt = errors.New("docinbox: no receipt in context: call from a handler behind Inbox, or use WithReceipt")

// UpdateOnce applies update to the one document filter selects, unless the event in ctx's
// receipt was already applied to it. The receipt is pushed into the document in the same atomic
// update, so the change and the proof of it land together. It reports whether this call
// changed the document.
//
// update is an update document with operators ($set, $inc, ...); it must not touch
// ReceiptsField. With upsert, filter must select the document by _id: a missing document is
// created with the update applied, and an existing one that already has the receipt makes the
// upsert collide on _id, which is reported as not applied. Without upsert, a document that does
// not exist is contracts.ErrNotFound.
func UpdateOnce(ctx context.Context, coll *mongo.Collection, filter, update bson.D, upsert bool) (bool, error) {
	r, ok := ReceiptFrom(ctx)
	if !ok {
		return false, errNoReceipt
	}
	if upsert && !hasKey(filter, "_id") {
		return false, fmt.Errorf("docinbox: an upsert must select the document by _id, or a duplicate would insert a second one")
	}
	window := r.window
	if window <= 0 {
		window = DefaultWindow
	}
	key := r.Key()
	guarded := append(bson.D{{Key: ReceiptsField, Value: bson.D{{Key: "$ne", Value: key}}}}, filter...)
	push := bson.E{Key: ReceiptsField, Value: bson.D{{Key: "$each", Value: bson.A{key}}, {Key: "$slice", Value: -window}}}
	withReceipt, err := addPush(update, push)
	if err != nil {
		return false, err
	}
	res, err := coll.UpdateOne(ctx, guarded, withReceipt, options.UpdateOne().SetUpsert(upsert))
	if mongo.IsDuplicateKeyError(err) && upsert {
		return false, nil // the document exists and already has the receipt
	}
	if err != nil {
		return false, err
	}
	if res.ModifiedCount > 0 || res.UpsertedCount > 0 {
		return true, nil
	}
	if res.MatchedCount > 0 {
		return true, nil // matched and applied, though the values happened to be unchanged
	}
	n, err := coll.CountDocuments(ctx, filter)
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, contracts.ErrNotFound.Msg("no document in %s matches the filter", coll.Name())
	}
	return false, nil
}

// InsertOnce inserts doc for the event in ctx's receipt, once. When doc has no _id it gets the
// receipt's key as _id; a doc with its own _id must derive it from the event (the same id on
// every delivery). A second insert collides on _id and is reported as not applied.
func InsertOnce(ctx context.Context, coll *mongo.Collection, doc any) (bool, error) {
	r, ok := ReceiptFrom(ctx)
	if !ok {
		return false, errNoReceipt
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		return false, fmt.Errorf("docinbox: encode document: %w", err)
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return false, err
	}
	if !hasKey(d, "_id") {
		d = append(bson.D{{Key: "_id", Value: r.Key()}}, d...)
	}
	_, err = coll.InsertOne(ctx, d)
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, err
}

func hasKey(d bson.D, key string) bool {
	for _, e := range d {
		if e.Key == key {
			return true
		}
	}
	return false
}

// addPush returns update with push added to its $push (creating it when absent).
func addPush(update bson.D, push bson.E) (bson.D, error) {
	out := make(bson.D, 0, len(update)+1)
	added := false
	for _, op := range update {
		if op.Key == "" || op.Key[0] != '$' {
			return nil, fmt.Errorf("docinbox: update must use operators ($set, $inc, ...), not a replacement (field %q)", op.Key)
		}
		fields, ok := op.Value.(bson.D)
		if !ok {
			return nil, fmt.Errorf("docinbox: operator %s needs a bson.D", op.Key)
		}
		if hasKey(fields, ReceiptsField) {
			return nil, fmt.Errorf("docinbox: the update touches %s, which belongs to the inbox", ReceiptsField)
		}
		if op.Key == "$push" {
			fields = append(append(bson.D{}, fields...), push)
			added = true
		}
		out = append(out, bson.E{Key: op.Key, Value: fields})
	}
	if !added {
		out = append(out, bson.E{Key: "$push", Value: bson.D{push}})
	}
	return out, nil
}
