package adapters

import (
	"context"
	"errors"
	"hash/maphash"
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
	// DefaultWriters is how many batches may be written at once; each writer owns the rooms
	// whose id hashes to it.
	DefaultWriters = 2
	// MaxBatch bounds the messages written in one batch.
	MaxBatch = 128
	// maxUpdatesPerCommand bounds the statements of one update command. FerretDB 1.24 keeps
	// each statement's cursor, and so one of its SQLite connections, open until the whole
	// command is done: an update of 100 rooms held all 100 connections and deadlocked the
	// store (every send timed out). Small commands also let AdvanceRead interleave.
	maxUpdatesPerCommand = 16
	// batchTimeout bounds one batch's writes. A batch serves many callers, so no single
	// caller's deadline applies; a caller that stops waiting gets its own deadline error.
	batchTimeout = 5 * time.Second
)

// writer stores messages in batches (group commit): a writer takes every message waiting when
// it is free, inserts them with one insertMany, and records them in their rooms with updates
// keyed by the room's _id alone (the only filter FerretDB on SQLite narrows without a scan of
// the collection). Under light load a batch is one message and nothing waits for a timer;
// under heavy load the batches grow while the previous one is written, so a store that pays
// per round trip or per transaction (FerretDB on SQLite pays a lot) keeps up.
//
// Each room belongs to one writer (by a hash of its id), so a room's messages are recorded in
// the order they were queued, and that writer knows each of its rooms' last recorded position
// (lastPos): the room update is then a plain $set/$max on _id, with no conditional filter and
// no second pass. That knowledge is this process's: with several instances on one store a room
// may be written by two of them, and an older message could become a room's "last" when two
// instances append to one room within the same moment; its activity and read positions stay
// right ($max). FerretDB does not isolate concurrent updates anyway (see docLocks).
type writer struct {
	messages *mongo.Collection
	rooms    *mongo.Collection
	locks    *docLocks
	seed     maphash.Seed
	shards   []*shard
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

// shard is one writer goroutine's queue and what it knows of its rooms.
type shard struct {
	queue   chan *appendReq
	lastPos map[string]string // room id -> position of the last message recorded in it
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
	w := &writer{messages: messages, rooms: rooms, locks: locks, seed: maphash.MakeSeed(), stop: make(chan struct{})}
	for range max(writers, 1) {
		s := &shard{queue: make(chan *appendReq, 4*MaxBatch), lastPos: map[string]string{}}
		w.shards = append(w.shards, s)
		w.wg.Add(1)
		go w.run(s)
	}
	return w
}

// append queues m with its room's writer and waits for its batch to be written, or for ctx.
func (w *writer) append(ctx context.Context, m domain.Message, side domain.Side) (domain.Message, bool, error) {
	r := &appendReq{m: m, side: side, done: make(chan appendResult, 1)}
	s := w.shards[maphash.String(w.seed, m.RoomID)%uint64(len(w.shards))]
	select {
	case s.queue <- r:
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
	for _, s := range w.shards {
		for drained := false; !drained; {
			select {
			case r := <-s.queue:
				r.done <- appendResult{err: contracts.ErrUnavailable.Msg("the chat store is closing")}
			default:
				drained = true
			}
		}
	}
}

func (w *writer) run(s *shard) {
	defer w.wg.Done()
	for {
		var first *appendReq
		select {
		case first = <-s.queue:
		case <-w.stop:
			return
		}
		batch := []*appendReq{first}
	fill:
		for len(batch) < MaxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.write(s, batch)
	}
}

// write stores a batch and answers every request in it.
func (w *writer) write(s *shard, batch []*appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	results := w.insert(ctx, batch)
	touchErr := w.touch(ctx, s, batch, results)
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
// position to its latest message (a sender has read what they reply to). Positions move with
// $max, and the last message is replaced only when it is later than the one recorded, so
// repeating it, or applying it out of order, changes nothing.
func (w *writer) touch(ctx context.Context, s *shard, batch []*appendReq, results []appendResult) error {
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
	if err := w.loadLastPos(ctx, s, order); err != nil {
		return err
	}
	models := make([]mongo.WriteModel, len(order))
	newLast := make([]string, len(order)) // "" when the room's last message stays
	for i, id := range order {
		rt := byRoom[id]
		pos := string(rt.last.Pos())
		maxes := bson.M{"activity": pos, "last_pos": pos}
		for side, p := range rt.reads {
			maxes[readField(side)] = string(p)
		}
		update := bson.M{"$max": maxes}
		if pos > s.lastPos[id] {
			update["$set"] = bson.M{"last": toMsgDoc(rt.last)}
			newLast[i] = pos
		}
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": id}).SetUpdate(update)
	}
	unordered := options.BulkWrite().SetOrdered(false)
	for from := 0; from < len(order); from += maxUpdatesPerCommand {
		to := min(from+maxUpdatesPerCommand, len(order))
		unlock := w.locks.lock(order[from:to]...)
		_, err := w.rooms.BulkWrite(ctx, models[from:to], unordered)
		unlock()
		if err != nil {
			// What was written is the same again on the retry; forget what we knew of these
			// rooms so that the next touch reads them.
			for _, id := range order[from:] {
				delete(s.lastPos, id)
			}
			return storeError("room touch", err)
		}
		for i := from; i < to; i++ {
			if newLast[i] != "" {
				s.lastPos[order[i]] = newLast[i]
			}
		}
	}
	return nil
}

// loadLastPos reads the last recorded position of the rooms the shard does not know yet (once
// per room after a start), each by _id.
func (w *writer) loadLastPos(ctx context.Context, s *shard, ids []string) error {
	for _, id := range ids {
		if _, ok := s.lastPos[id]; ok {
			continue
		}
		var d struct {
			LastPos string `bson:"last_pos"`
		}
		err := w.rooms.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"last_pos": 1})).Decode(&d)
		if err != nil && err != mongo.ErrNoDocuments {
			return storeError("room read", err)
		}
		if len(s.lastPos) >= roomCacheSize {
			for k := range s.lastPos { // evict an arbitrary room: it is read again when needed
				delete(s.lastPos, k)
				break
			}
		}
		s.lastPos[id] = d.LastPos
	}
	return nil
}
