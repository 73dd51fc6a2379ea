package adapters

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/domain"
)

// Writer settings.
const (
	// DefaultWriters is how many batches may be written at once.
	DefaultWriters = 2
	// MaxBatch bounds the messages written in one batch.
	MaxBatch = 128
	// batchTimeout bounds one batch's writes. A batch serves many callers, so no single
	// caller's deadline applies; a caller that stops waiting gets its own deadline error.
	batchTimeout = 5 * time.Second
)

// writer stores messages in batches (group commit): a writer takes every message waiting when
// it is free, inserts them with one insertMany, and records them in their rooms with one bulk
// write. Under light load a batch is one message and nothing waits for a timer; under heavy
// load the batches grow while the previous one is written, so a store that pays per round
// trip or per transaction (FerretDB on SQLite pays a lot) keeps up.
type writer struct {
	messages *mongo.Collection
	rooms    *mongo.Collection
	locks    *docLocks
	queue    chan *appendReq
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

// appendReq is one message waiting to be written.
type appendReq struct {
	m    domain.Message
	side domain.Side
	done chan appendResult // buffered: the writer never blocks on a caller that left
}

type appendResult struct {
	m   domain.Message
	dup bool
	err error
}

func newWriter(messages, rooms *mongo.Collection, locks *docLocks, writers int) *writer {
	w := &writer{messages: messages, rooms: rooms, locks: locks, queue: make(chan *appendReq, 4*MaxBatch), stop: make(chan struct{})}
	for range max(writers, 1) {
		w.wg.Add(1)
		go w.run()
	}
	return w
}

// append queues m and waits for its batch to be written, or for ctx.
func (w *writer) append(ctx context.Context, m domain.Message, side domain.Side) (domain.Message, bool, error) {
	r := &appendReq{m: m, side: side, done: make(chan appendResult, 1)}
	select {
	case w.queue <- r:
	case <-w.stop:
		return domain.Message{}, false, contracts.ErrUnavailable.Msg("the chat store is closing")
	case <-ctx.Done():
		return domain.Message{}, false, storeError("message append", ctx.Err())
	}
	select {
	case res := <-r.done:
		return res.m, res.dup, res.err
	case <-w.stop:
		select {
		case res := <-r.done:
			return res.m, res.dup, res.err
		default:
			// Queued too late for the last batch. Either way there is no ack, and a retry
			// with the same client message id finds the message if it was stored.
			return domain.Message{}, false, contracts.ErrUnavailable.Msg("the chat store is closing")
		}
	case <-ctx.Done():
		// The message may still be stored: the client's retry with the same client message
		// id finds it.
		return domain.Message{}, false, storeError("message append", ctx.Err())
	}
}

// close stops the writers after the batches being written; queued messages get an error.
func (w *writer) close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
	for {
		select {
		case r := <-w.queue:
			r.done <- appendResult{err: contracts.ErrUnavailable.Msg("the chat store is closing")}
		default:
			return
		}
	}
}

func (w *writer) run() {
	defer w.wg.Done()
	for {
		var first *appendReq
		select {
		case first = <-w.queue:
		case <-w.stop:
			return
		}
		batch := []*appendReq{first}
	fill:
		for len(batch) < MaxBatch {
			select {
			case r := <-w.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.write(batch)
	}
}

// write stores a batch and answers every request in it.
func (w *writer) write(batch []*appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	results := w.insert(ctx, batch)
	touchErr := w.touch(ctx, batch, results)
	for i, r := range batch {
		res := results[i]
		if res.err == nil && touchErr != nil {
			// The message is stored but its room is not updated: no ack. The retry finds the
			// message and records it in the room again.
			res = appendResult{err: touchErr}
		}
		r.done <- res
	}
}

// insert inserts the batch unordered, so one duplicate does not hold up the others, and
// resolves each duplicate to the message stored first.
func (w *writer) insert(ctx context.Context, batch []*appendReq) []appendResult {
	results := make([]appendResult, len(batch))
	docs := make([]any, len(batch))
	for i, r := range batch {
		docs[i] = toMsgDoc(r.m)
		results[i] = appendResult{m: r.m}
	}
	_, err := w.messages.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return results
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		for i := range results {
			results[i] = appendResult{err: storeError("message insert", err)}
		}
		return results
	}
	for _, we := range bwe.WriteErrors {
		i := we.Index
		if i < 0 || i >= len(batch) {
			continue
		}
		if !isDuplicateCode(we.Code) {
			results[i] = appendResult{err: storeError("message insert", we)}
			continue
		}
		m := batch[i].m
		var d msgDoc
		ferr := w.messages.FindOne(ctx, bson.M{"room_id": m.RoomID, "sender_id": m.SenderID, "client_msg_id": m.ClientMsgID}).Decode(&d)
		if ferr != nil {
			// A duplicate of anything but the client message id (the _id) is a bug.
			results[i] = appendResult{err: storeError("message insert", errors.Join(we, ferr))}
			continue
		}
		results[i] = appendResult{m: d.message(), dup: true}
	}
	return results
}

func isDuplicateCode(code int) bool { return code == 11000 || code == 11001 || code == 12582 }

// touch records the stored messages of the batch in their rooms: per room, the latest message
// becomes the last one unless a later one is recorded, and each side that sent moves its read
// position to its latest message (a sender has read what they reply to). All of it is $max or
// conditional, so repeating it, or applying it out of order, changes nothing.
func (w *writer) touch(ctx context.Context, batch []*appendReq, results []appendResult) error {
	type roomTouch struct {
		last  domain.Message
		reads map[domain.Side]domain.Pos
	}
	byRoom := map[string]*roomTouch{}
	var order []string
	for i, res := range results {
		if res.err != nil {
			continue
		}
		m := res.m
		rt := byRoom[m.RoomID]
		if rt == nil {
			rt = &roomTouch{last: m, reads: map[domain.Side]domain.Pos{}}
			byRoom[m.RoomID] = rt
			order = append(order, m.RoomID)
		}
		if m.Pos().After(rt.last.Pos()) {
			rt.last = m
		}
		if side := batch[i].side; m.Pos().After(rt.reads[side]) {
			rt.reads[side] = m.Pos()
		}
	}
	if len(order) == 0 {
		return nil
	}
	// One update per room: the common case is a message later than the room's last one, and
	// then it also moves the read positions. Only when some room already had a later message
	// (out of order, or a retry) does a second pass move the read positions alone.
	touches := make([]mongo.WriteModel, len(order))
	reads := make([]mongo.WriteModel, len(order))
	for i, id := range order {
		rt := byRoom[id]
		pos := string(rt.last.Pos())
		maxes := bson.M{"activity": pos}
		rd := bson.M{}
		for side, p := range rt.reads {
			maxes[readField(side)] = string(p)
			rd[readField(side)] = string(p)
		}
		touches[i] = mongo.NewUpdateOneModel().
			SetFilter(bson.M{"_id": id, "last_pos": bson.M{"$lt": pos}}).
			SetUpdate(bson.M{"$set": bson.M{"last_pos": pos, "last": toMsgDoc(rt.last)}, "$max": maxes})
		reads[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": id}).SetUpdate(bson.M{"$max": rd})
	}
	defer w.locks.lock(order...)()
	unordered := options.BulkWrite().SetOrdered(false)
	res, err := w.rooms.BulkWrite(ctx, touches, unordered)
	if err != nil {
		return storeError("room touch", err)
	}
	if res.MatchedCount == int64(len(order)) {
		return nil
	}
	_, err = w.rooms.BulkWrite(ctx, reads, unordered)
	return storeError("room touch", err)
}
