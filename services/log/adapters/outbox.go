package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/app"
	"github.com/moa-run/moa/services/log/domain"
)

// Publisher publishes an envelope and waits for the stream's ack (bus.Runtime).
type Publisher interface {
	Publish(ctx context.Context, subject string, env contracts.Envelope) (*jetstream.PubAck, error)
}

// Outbox is the log's outbox for log.post_popular, in its MongoDB database: the services on
// PostgreSQL commit an event with their change (bus/outbox), but the document store has no
// transaction that could hold both, and the change here is a counter's $inc. So the outbox
// record is itself the change that matters: its _id is "<post>/<threshold>", and inserting it
// is the one claim to announce that threshold, whoever else crosses it at the same time
// (they collide on _id). The record holds the complete envelope, event id included; it is
// published right away and marked sent, and the relay publishes what stayed unsent (a crash
// or NATS down in between). A record published twice (relay and writer at once, or a crash
// before the mark) goes out with the same event id, which the stream drops inside its
// duplicate window (contracts.StreamLog.Duplicates, two hours, far longer than the relay's
// interval); consumers' inboxes drop it after that. Records are kept: one per post per threshold
// is small, and it stays the claim for good.
type Outbox struct {
	coll *mongo.Collection
	pub  Publisher
	log  *slog.Logger
}

var _ app.Announcer = (*Outbox)(nil)

// NewOutbox returns the outbox over db publishing with pub.
func NewOutbox(db *mongo.Database, pub Publisher, log *slog.Logger) *Outbox {
	return &Outbox{coll: db.Collection(collOutbox), pub: pub, log: log}
}

type outboxDoc struct {
	ID      string `bson:"_id"`
	Subject string `bson:"subject"`
	Env     string `bson:"env"` // the envelope's JSON
	Sent    bool   `bson:"sent"`
	Created int64  `bson:"created"` // Unix nanoseconds
}

// Announce implements app.Announcer. It fails only when the record could not be stored (the
// app then retries on the post's next view); a record stored but not published is the
// relay's.
func (o *Outbox) Announce(ctx context.Context, p domain.Post, threshold int64) error {
	env, subject, err := bus.NewEnvelope(ctx, nil, contracts.LogService.Name, contracts.LogPostPopular, p.ID,
		contracts.PostPopularData{PostID: p.ID, AuthorID: p.AuthorID, Title: p.Title, Threshold: threshold})
	if err != nil {
		return err
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return err
	}
	d := outboxDoc{ID: p.ID + "/" + strconv.FormatInt(threshold, 10), Subject: subject, Env: string(raw),
		Created: time.Now().UnixNano()}
	if _, err := o.coll.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return nil // claimed by another view: it publishes, or the relay does
		}
		return storeError("storing an event", err)
	}
	if err := o.publish(ctx, d); err != nil {
		o.log.Warn("event stored, the relay publishes it", "id", d.ID, "err", err)
	}
	return nil
}

func (o *Outbox) publish(ctx context.Context, d outboxDoc) error {
	var env contracts.Envelope
	if err := json.Unmarshal([]byte(d.Env), &env); err != nil {
		return err
	}
	if _, err := o.pub.Publish(ctx, d.Subject, env); err != nil {
		return err
	}
	_, err := o.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "sent", Value: true}}}})
	return storeError("marking an event sent", err)
}

// Relay publishes the records left unsent, oldest first, and returns how many it published.
func (o *Outbox) Relay(ctx context.Context) (int, error) {
	cur, err := o.coll.Find(ctx, bson.D{{Key: "sent", Value: false}})
	if err != nil {
		return 0, storeError("reading the outbox", err)
	}
	var docs []outboxDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, storeError("reading the outbox", err)
	}
	n := 0
	var errs []error
	for _, d := range docs {
		if err := o.publish(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
