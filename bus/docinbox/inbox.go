package docinbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Collection is where the Inbox records the events each consumer has handled.
const Collection = "moa_inbox"

// DefaultWindow is how many receipts UpdateOnce keeps per document.
const DefaultWindow = 64

// Receipt names one event handled by one consumer.
type Receipt struct {
	Consumer string
	EventID  string
	window   int
}

// Key is the receipt's string form, stored in documents and as the moa_inbox _id.
func (r Receipt) Key() string { return r.Consumer + "/" + r.EventID }

type receiptKey struct{}

// WithReceipt returns ctx carrying r, for UpdateOnce and InsertOnce outside the Inbox
// middleware (a handler of its own, a backfill).
func WithReceipt(ctx context.Context, r Receipt) context.Context {
	return context.WithValue(ctx, receiptKey{}, r)
}

// ReceiptFrom returns the receipt of the event being handled.
func ReceiptFrom(ctx context.Context) (Receipt, bool) {
	r, ok := ctx.Value(receiptKey{}).(Receipt)
	return r, ok
}

// Option configures an Inbox.
type Option func(*config)

type config struct {
	tx          bool
	window      int
	onDuplicate func(ctx context.Context, m *bus.Msg, r Receipt)
}

// WithTransactions runs each handler in a MongoDB multi-document transaction that first
// inserts the moa_inbox record: every write the handler makes with the context it is given
// commits with the record, or none does. MongoDB replica sets and sharded clusters only.
func WithTransactions() Option { return func(c *config) { c.tx = true } }

// WithWindow sets how many receipts UpdateOnce keeps per document (default DefaultWindow).
func WithWindow(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.window = n
		}
	}
}

// OnDuplicate calls fn for every message the inbox skips as already handled.
func OnDuplicate(fn func(ctx context.Context, m *bus.Msg, r Receipt)) Option {
	return func(c *config) { c.onDuplicate = fn }
}

// Inbox is the idempotent-consumer middleware for handlers whose effect is in db's server.
// consumer names the inbox: use the durable consumer name. See the package documentation for
// what is exactly-once and what is not.
func Inbox(db *mongo.Database, consumer string, opts ...Option) bus.Middleware {
	cfg := config{window: DefaultWindow}
	for _, o := range opts {
		o(&cfg)
	}
	coll := db.Collection(Collection)
	versions := db.Collection(VersionsCollection)
	var txCheck struct {
		sync.Mutex
		ok bool
	}
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Msg) ([]byte, error) {
			id, err := bus.EventID(m)
			if err != nil {
				return nil, err
			}
			r := Receipt{Consumer: consumer, EventID: id, window: cfg.window}
			ctx = WithReceipt(ctx, r)
			done, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: r.Key()}})
			if err != nil {
				return nil, fmt.Errorf("docinbox: %w", err)
			}
			if done > 0 {
				return nil, duplicate(ctx, cfg, m, r)
			}
			turn, err := awaitTurn(ctx, versions, consumer, m) // per-key order, see keyorder.go
			if err != nil {
				return nil, err
			}
			if cfg.tx {
				txCheck.Lock()
				if !txCheck.ok {
					ok, err := SupportsTransactions(ctx, db)
					if err != nil || !ok {
						txCheck.Unlock()
						return nil, contracts.ErrUnavailable.Msg("docinbox: %s does not support transactions (a MongoDB replica set or sharded cluster is needed for WithTransactions)", db.Name())
					}
					txCheck.ok = true
				}
				txCheck.Unlock()
				out, dup, err := inTransaction(ctx, db, coll, r, m, func(ctx context.Context, m *bus.Msg) ([]byte, error) {
					out, err := next(ctx, m)
					if err != nil {
						return nil, err
					}
					return out, turn.record(ctx, versions)
				})
				if dup {
					return nil, duplicate(ctx, cfg, m, r)
				}
				return out, err
			}
			out, err := next(ctx, m)
			if err != nil {
				return nil, err
			}
			if err := turn.record(ctx, versions); err != nil {
				return nil, err
			}
			if _, err := coll.InsertOne(ctx, record(r)); err != nil && !mongo.IsDuplicateKeyError(err) {
				// The effect is written; the redelivery this error causes finds it applied.
				return nil, fmt.Errorf("docinbox: record %s: %w", r.Key(), err)
			}
			return out, nil
		}
	}
}

func duplicate(ctx context.Context, cfg config, m *bus.Msg, r Receipt) error {
	if cfg.onDuplicate != nil {
		cfg.onDuplicate(ctx, m, r)
	}
	return nil
}

func record(r Receipt) bson.D {
	return bson.D{
		{Key: "_id", Value: r.Key()}, {Key: "consumer", Value: r.Consumer},
		{Key: "event_id", Value: r.EventID}, {Key: "processed_at", Value: time.Now().UTC()},
	}
}

// inTransaction inserts the record and runs the handler in one transaction. A duplicate-key
// error on the record means another delivery committed first.
func inTransaction(ctx context.Context, db *mongo.Database, coll *mongo.Collection, r Receipt, m *bus.Msg, next bus.Handler) ([]byte, bool, error) {
	sess, err := db.Client().StartSession()
	if err != nil {
		return nil, false, fmt.Errorf("docinbox: session: %w", err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	out, err := sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if _, err := coll.InsertOne(ctx, record(r)); err != nil {
			return nil, err
		}
		return next(ctx, m)
	})
	if mongo.IsDuplicateKeyError(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	b, _ := out.([]byte)
	return b, false, nil
}

// SupportsTransactions reports whether db's server runs multi-document transactions: a
// replica set member or a mongos. FerretDB and standalone MongoDB do not.
func SupportsTransactions(ctx context.Context, db *mongo.Database) (bool, error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return false, err
	}
	return hello.SetName != "" || hello.Msg == "isdbgrid", nil
}

// Cleanup deletes moa_inbox records older than age. They must outlive any redelivery or
// replay of their events (the streams' and the dead-letter stream's MaxAge).
func Cleanup(ctx context.Context, db *mongo.Database, age time.Duration) (int64, error) {
	if age <= 0 {
		return 0, errors.New("docinbox: cleanup age must be positive")
	}
	return cleanupBefore(ctx, db, time.Now().Add(-age))
}

// cleanupBefore deletes the records processed before cutoff. BSON dates keep milliseconds, so
// both processed_at and the cutoff reach the server truncated: a record written in the same
// millisecond as the cutoff, though earlier, would not be $lt it. The cutoff is therefore
// rounded up to the next millisecond; at worst a record younger than age by less than a
// millisecond goes too, which the redelivery window (minutes) cannot notice.
func cleanupBefore(ctx context.Context, db *mongo.Database, cutoff time.Time) (int64, error) {
	if ms := cutoff.Truncate(time.Millisecond); !ms.Equal(cutoff) {
		cutoff = ms.Add(time.Millisecond)
	}
	res, err := db.Collection(Collection).DeleteMany(ctx, bson.D{{Key: "processed_at", Value: bson.D{{Key: "$lt", Value: cutoff.UTC()}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}
