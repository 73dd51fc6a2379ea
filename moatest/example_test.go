package moatest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/moatest"
)

// TestExampleService is the harness's worked example: a tiny service that
// consumes order events from JetStream, records each order in PostgreSQL
// and a projection of it in MongoDB; the test boots all three with one
// call each, publishes an event and waits for both stores to show it.
func TestExampleService(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	nc := moatest.NATS(t).Conn(t)
	pgURL := moatest.Postgres(t) // a fresh database, dropped after the test
	docs := moatest.MongoDB(t)   // likewise

	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE orders (id text PRIMARY KEY, total int NOT NULL)`); err != nil {
		t.Fatal(err)
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	runOrderService(t, js, pool, docs.Collection("order_views"))

	if _, err := js.Publish(ctx, "orders.placed", []byte(`{"id":"o-1","total":42}`)); err != nil {
		t.Fatal(err)
	}

	moatest.WaitFor(t, 10*time.Second, func() error {
		var total int
		return pool.QueryRow(ctx, `SELECT total FROM orders WHERE id = 'o-1'`).Scan(&total)
	})
	moatest.Eventually(t, 10*time.Second, func() bool {
		n, err := docs.Collection("order_views").CountDocuments(ctx, bson.D{{Key: "_id", Value: "o-1"}})
		return err == nil && n == 1
	}, "order o-1 projected into MongoDB")
}

// runOrderService stands in for the service under test.
func runOrderService(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool, views *mongo.Collection) {
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "order-service"})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var o struct {
			ID    string `json:"id"`
			Total int    `json:"total"`
		}
		if err := json.Unmarshal(msg.Data(), &o); err != nil {
			msg.Term()
			return
		}
		if _, err := pool.Exec(ctx, `INSERT INTO orders VALUES ($1, $2) ON CONFLICT DO NOTHING`, o.ID, o.Total); err != nil {
			msg.Nak()
			return
		}
		if _, err := views.InsertOne(ctx, bson.D{{Key: "_id", Value: o.ID}, {Key: "total", Value: o.Total}}); err != nil && !mongo.IsDuplicateKeyError(err) {
			msg.Nak()
			return
		}
		msg.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
}
