package outbox

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// crashEnv is the environment every helper gets.
func crashEnv(pgURL string, srv *moatest.NATSServer, extra ...string) []string {
	return append([]string{envPG + "=" + pgURL, envNATS + "=" + srv.URL()}, extra...)
}

// effectsConsumer runs the effects consumer (inbox + effect) in this process and counts the
// duplicates its inbox absorbs.
func effectsConsumer(t *testing.T, rt *bus.Runtime, pool *pgxpool.Pool, durable string) *atomic.Int64 {
	t.Helper()
	var dups atomic.Int64
	_, err := rt.Consume(ctxT(t, 30*time.Second), "crash", crashConsumerSpec(durable), bus.OnEvent(evHappened, applyEffect),
		bus.WithConsumerMiddleware(Inbox(pool, durable, OnDuplicate(func(context.Context, *bus.Msg, string) { dups.Add(1) }))),
		bus.WithKey(bus.SubjectKey), bus.WithConcurrency(8))
	if err != nil {
		t.Fatal(err)
	}
	return &dups
}

// The relay dies holding a batch it has selected but not published: the rows are committed,
// nothing is in the stream. A relay started afterwards publishes every one of them.
func TestCrashPublisherBetweenCommitAndPublish(t *testing.T) {
	crashPublisher(t, "relay.before_publish")
}

// The relay dies after the stream acknowledged its batch, before marking the rows published.
// The next relay publishes them again; the stream drops the copies (same Nats-Msg-Id within
// its duplicate window) and the consumer's inbox would absorb any that got through.
func TestCrashPublisherBetweenPublishAndMark(t *testing.T) {
	crashPublisher(t, "relay.after_publish")
}

func crashPublisher(t *testing.T, point string) {
	pgURL, srv := moatest.Postgres(t), moatest.NATS(t)
	pool := newPool(t, pgURL)
	createEffects(t, pool)
	rt := newRuntime(t, srv.Conn(t))
	dups := effectsConsumer(t, rt, pool, "effects")

	// 2000 events make at least 8 non-empty batches (at most 256 rows each): the 5th is reached
	// however fast the writer is.
	c := spawn(t, "publisher", crashEnv(pgURL, srv, envCrashAt+"="+point, envCrashAfter+"=5",
		envEvents+"=2000", envPerTx+"=5", envName+"=p")...)
	c.await("crash "+point, 2*time.Minute)
	c.kill() // kill -9 at the crash point
	stranded := unpublished(t, pool)
	inStream := len(readStream(t, rt.JetStream()))

	r := startRelay(t, pool, rt, RelayOptions{Name: "after-crash"})
	moatest.Eventually(t, time.Minute, func() bool { return unpublished(t, pool) == 0 }, "the outbox drained after the crash")
	committed := outboxRows(t, pool)
	moatest.Eventually(t, time.Minute, func() bool { _, distinct := countEffects(t, pool); return distinct == committed }, "every committed event applied")
	total, distinct := countEffects(t, pool)
	streamIDs := readStream(t, rt.JetStream())
	t.Logf("crash at %s: committed=%d unpublished at kill=%d in stream at kill=%d re-published=%d "+
		"duplicates absorbed by stream=%d by inbox=%d stream=%d delivered=%d distinct=%d lost=%d",
		point, committed, stranded, inStream, r.Published(), r.Duplicates(), dups.Load(), len(streamIDs), total, distinct, committed-distinct)
	if stranded == 0 {
		t.Fatal("no row was unpublished at the kill: the crash point was not between commit and mark")
	}
	// At the kill every committed row was in the stream, unpublished, or both (the batch that
	// was published but not marked), and only the latter come back as duplicates.
	if inStream+stranded-int(r.Duplicates()) != committed {
		t.Fatalf("in stream %d + unpublished %d - duplicates %d != committed %d", inStream, stranded, r.Duplicates(), committed)
	}
	if point == "relay.after_publish" && r.Duplicates() == 0 {
		t.Fatal("the stranded batch was in the stream already, but no re-publish was a duplicate")
	}
	if len(streamIDs) != committed || total != committed || distinct != committed {
		t.Fatalf("committed %d, stream %d, effects %d (%d distinct): want all equal", committed, len(streamIDs), total, distinct)
	}
}

// The consumer dies after its effect and inbox row committed, before it acked. The message comes
// back (AckWait) and the inbox acks it without applying the effect again.
func TestCrashConsumerAfterCommitBeforeAck(t *testing.T) {
	pgURL, srv := moatest.Postgres(t), moatest.NATS(t)
	pool := newPool(t, pgURL)
	createEffects(t, pool)
	rt := newRuntime(t, srv.Conn(t))
	const events = 300
	for i := range events {
		if _, err := bus.Emit(ctxT(t, 10*time.Second), rt, "crash", evHappened, keyOf(i), happened{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	c := spawn(t, "consumer", crashEnv(pgURL, srv, envCrashAt+"=inbox.after_commit", envCrashAfter+"=100", envDurable+"=effects")...)
	c.await("crash inbox.after_commit", 2*time.Minute)
	c.kill()
	atKill, _ := countEffects(t, pool)

	dups := effectsConsumer(t, rt, pool, "effects")
	moatest.Eventually(t, time.Minute, func() bool { _, d := countEffects(t, pool); return d == events }, "every event applied")
	moatest.Eventually(t, 30*time.Second, func() bool {
		info, err := rt.JetStream().Consumer(ctxT(t, 5*time.Second), testStream.Name, "effects")
		if err != nil {
			return false
		}
		ci, err := info.Info(ctxT(t, 5*time.Second))
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	}, "consumer settled")
	total, distinct := countEffects(t, pool)
	t.Logf("published=%d applied before the kill=%d delivered after=%d duplicates absorbed=%d effects=%d distinct=%d lost=%d",
		events, atKill, events-atKill+int(dups.Load()), dups.Load(), total, distinct, events-distinct)
	if atKill < 100 || dups.Load() < 1 {
		t.Fatalf("applied %d before the kill, %d duplicates absorbed: the crash did not land after a commit", atKill, dups.Load())
	}
	if total != events || distinct != events {
		t.Fatalf("effects %d (%d distinct) for %d events", total, distinct, events)
	}
}

// Ten publisher processes write 10,000 events through their outboxes into one database while
// the nats-server restarts under them. Every event arrives, once.
func TestNATSRestartDuring10kEventsFrom10Publishers(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 events")
	}
	pgURL, srv := moatest.Postgres(t), moatest.NATS(t)
	pool := newPool(t, pgURL)
	createEffects(t, pool)
	rt := newRuntime(t, srv.Conn(t))
	dups := effectsConsumer(t, rt, pool, "effects")
	const publishers, each = 10, 1000
	var children []*child
	for i := range publishers {
		children = append(children, spawn(t, "publisher", crashEnv(pgURL, srv,
			envEvents+"="+fmt.Sprint(each), envPerTx+"=10", envName+"="+fmt.Sprintf("p%d", i))...))
	}
	for _, c := range children {
		c.await("ready", time.Minute)
	}
	moatest.Eventually(t, 2*time.Minute, func() bool { d, _ := countEffects(t, pool); return d >= 2500 }, "a quarter of the events through")
	before, _ := countEffects(t, pool)
	start := time.Now()
	srv.Restart(t)
	t.Logf("nats-server restarted after %d of %d events applied (restart took %v)", before, publishers*each, time.Since(start).Round(time.Millisecond))

	var published, relayDups int64
	for _, c := range children {
		var p, d int64
		line := c.await("done", 3*time.Minute)
		if _, err := fmt.Sscanf(line, "done published=%d duplicates=%d", &p, &d); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		published += p
		relayDups += d
		c.exit(30 * time.Second)
	}
	const want = publishers * each
	moatest.Eventually(t, 2*time.Minute, func() bool { _, d := countEffects(t, pool); return d == want }, "all %d events applied", want)
	total, distinct := countEffects(t, pool)
	stream := readStream(t, rt.JetStream())
	t.Logf("publishers=%d committed=%d published(acked+marked)=%d stream=%d delivered=%d duplicates absorbed: stream=%d inbox=%d lost=%d",
		publishers, outboxRows(t, pool), published, len(stream), total, relayDups, dups.Load(), want-distinct)
	if outboxRows(t, pool) != want || unpublished(t, pool) != 0 {
		t.Fatalf("outbox has %d rows, %d unpublished", outboxRows(t, pool), unpublished(t, pool))
	}
	if total != want || distinct != want || len(stream) != want {
		t.Fatalf("effects %d (%d distinct), stream %d; want %d each", total, distinct, len(stream), want)
	}
}
