package adapters

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
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
	// whose id hashes to it. One: FerretDB on SQLite writes one transaction at a time, and a
	// second writer's transactions wait for the first's in SQLite's busy handler, which sleeps
	// (1, 2, 5 … 100 ms): with two, p99 grew by that much.
	DefaultWriters = 1
	// MaxBatch bounds the messages written in one batch.
	MaxBatch = 128
	// maxUpdatesPerCommand bounds the statements of one update command. FerretDB 1.24 keeps
	// each statement's cursor, and so one of its SQLite connections, open until the whole
	// command is done: an update of 100 rooms held all 100 connections and deadlocked the
	// store (every send timed out).
	maxUpdatesPerCommand = 16
	// flushEvery is how long a room's summary (last message, activity, the sender's read
	// position) may lag its stored messages, for readers of other instances; readers in this
	// process flush what they read first (see sync). A room that gets thirty messages in that
	// time is updated once: updating each room per message could not keep up with 1,000
	// messages/s on FerretDB over SQLite, where each update is a transaction of its own (an
	// insertMany is one transaction for all its messages); the figures below were taken before
	// internal/docstore indexed _id lookups, when each update also scanned the collection. Measured
	// with edgeload (1,000 msg/s, 100 rooms, three interleaved pairs on a shared machine): 3 s
	// against 1 s gave send → ack p99 348/108/85 ms against 576/142/281 ms.
	flushEvery = 3 * time.Second
	// batchTimeout bounds one batch's writes. A batch serves many callers, so no single
	// caller's deadline applies; a caller that stops waiting gets its own deadline error.
	batchTimeout = 5 * time.Second
)

// writer stores messages in batches (group commit): a writer takes every message waiting when
// it is free and inserts them with one insertMany. Under light load a batch is one message and
// nothing waits for a timer; under heavy load the batches grow while the previous one is
// written, so a store that pays per round trip or per transaction (FerretDB on SQLite pays a
// lot) keeps up. A message is acknowledged once inserted: it is history then.
//
// Recording messages in their rooms (the room's last message, its activity, the sender's read
// position) follows behind, merged per room, at most about flushEvery after the insert, by the
// same goroutine between batches (so this process never has two writes waiting on each other
// in the store), with updates keyed by the room's _id alone (the only filter FerretDB on SQLite
// pushes down to SQL). Everything recorded is derived from the stored
// messages and only moves forward, so it can be applied late, twice or out of order; reads of
// room summaries in this process flush first (sync), and Recover redoes what a crash left
// unrecorded.
//
// Each room belongs to one writer (by a hash of its id), which knows the room's last recorded
// position (lastPos): the room update is then a plain $set/$max on _id, with no conditional
// filter. That knowledge is this process's: with several instances on one store an older
// message could become a room's "last" if two instances record one room at the same moment;
// its activity and read positions stay right ($max).
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

// shard is one writer's queue, its rooms' pending summaries, and what it knows of them.
type shard struct {
	queue   chan *appendReq
	flushes chan flushReq // sync's requests

	mu       sync.Mutex            // pending, dirty and flushing: read and added to from outside
	pending  map[string]*roomTouch // room id -> what its next update records
	dirty    []string              // pending's rooms, oldest first
	flushing bool                  // rooms taken from pending are being written

	lastPos map[string]string // the writer's own: room id -> position of its last recorded message
}

// roomTouch is what stored messages change in one room.
type roomTouch struct {
	since time.Time // when it became pending
	last  domain.Message
	reads map[domain.Side]domain.Pos
}

// flushReq asks a writer to record the pending rooms that match (all when match is nil).
type flushReq struct {
	match func(roomID string) bool
	done  chan error // buffered
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
		s := &shard{queue: make(chan *appendReq, 4*MaxBatch), flushes: make(chan flushReq),
			pending: map[string]*roomTouch{}, lastPos: map[string]string{}}
		w.shards = append(w.shards, s)
		w.wg.Add(1)
		go w.run(s)
	}
	return w
}

func (w *writer) shardOf(roomID string) *shard {
	return w.shards[maphash.String(w.seed, roomID)%uint64(len(w.shards))]
}

// append queues m with its room's writer and waits for its batch to be written, or for ctx.
func (w *writer) append(ctx context.Context, m domain.Message, side domain.Side) (domain.Message, bool, error) {
	r := &appendReq{m: m, side: side, done: make(chan appendResult, 1)}
	select {
	case w.shardOf(m.RoomID).queue <- r:
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

// sync records in their rooms every message this process stored so far in the rooms that
// match (all when match is nil), so that what the caller reads next reflects every send
// acknowledged before. Only the rooms a read needs are flushed: a full flush would hold up the
// writer, and the sends queued behind it, for as many room updates as are pending.
func (w *writer) sync(ctx context.Context, match func(roomID string) bool) error {
	return w.syncShards(ctx, w.shards, match)
}

// syncRoom is sync for one room.
func (w *writer) syncRoom(ctx context.Context, roomID string) error {
	return w.syncShards(ctx, []*shard{w.shardOf(roomID)}, func(id string) bool { return id == roomID })
}

func (w *writer) syncShards(ctx context.Context, shards []*shard, match func(roomID string) bool) error {
	var errs []error
	for _, s := range shards {
		s.mu.Lock()
		idle := !s.flushing && !slices.ContainsFunc(s.dirty, func(id string) bool { return match == nil || match(id) })
		s.mu.Unlock()
		if idle {
			continue // nothing of these rooms pending: no need to queue behind the writer
		}
		req := flushReq{match: match, done: make(chan error, 1)}
		select {
		case s.flushes <- req:
		case <-w.stop:
			return contracts.ErrUnavailable.Msg("the chat store is closing")
		case <-ctx.Done():
			return storeError("room touch", ctx.Err())
		}
		select {
		case err := <-req.done:
			errs = append(errs, err)
		case <-ctx.Done():
			return storeError("room touch", ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// close stops the writers after the batches being written and a last recording of their
// rooms; queued messages get an error.
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

// run writes s's batches and, between them, records its rooms: one room that is due after
// each batch and while no message waits, everything pending when sync asks or the writer stops.
// A room update costs FerretDB on SQLite a few milliseconds on a busy machine, so one at a time
// is what the messages behind it can afford to wait.
func (w *writer) run(s *shard) {
	defer w.wg.Done()
	tick := time.NewTicker(flushEvery / 4)
	defer tick.Stop()
	for {
		var first *appendReq
		select {
		case first = <-s.queue:
		default:
			if w.flush(s, 1, time.Now().Add(-flushEvery)) > 0 {
				continue
			}
			select {
			case first = <-s.queue:
			case req := <-s.flushes:
				req.done <- w.flushAll(s, req.match)
				continue
			case <-tick.C:
				continue
			case <-w.stop:
				_ = w.flushAll(s, nil)
				return
			}
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
		select {
		case req := <-s.flushes: // a reader waits: it goes before the next batch
			req.done <- w.flushAll(s, req.match)
		default:
			w.flush(s, 1, time.Now().Add(-flushEvery))
		}
	}
}

// flushAll records every pending summary of the rooms that match (all when match is nil).
func (w *writer) flushAll(s *shard, match func(roomID string) bool) error {
	for {
		n, err := w.flushSome(s, maxUpdatesPerCommand, time.Time{}, match)
		if err != nil || n == 0 {
			return err
		}
	}
}

// flush records up to most summaries pending since before dueBefore, and returns how many it
// tried: a failure is for the next try (they stay pending), and the messages waiting go first.
func (w *writer) flush(s *shard, most int, dueBefore time.Time) int {
	n, _ := w.flushSome(s, most, dueBefore, nil)
	return n
}

// write stores a batch, makes what was stored pending for its rooms and answers every request.
func (w *writer) write(s *shard, batch []*appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	results := w.insert(ctx, batch)
	now := time.Now()
	s.mu.Lock()
	for i, res := range results {
		if res.err == nil {
			// A duplicate too: the send it repeats may have been stored by a process that
			// crashed before recording it.
			s.pend(res.m, batch[i].side, now)
		}
	}
	s.mu.Unlock()
	for i, r := range batch {
		r.done <- results[i]
	}
}

// pend adds stored message m, sent from side, to its room's pending summary; s.mu is held.
func (s *shard) pend(m domain.Message, side domain.Side, now time.Time) {
	t := s.pending[m.RoomID]
	if t == nil {
		t = &roomTouch{since: now, last: m, reads: map[domain.Side]domain.Pos{}}
		s.pending[m.RoomID] = t
		s.dirty = append(s.dirty, m.RoomID)
	}
	if m.Pos().After(t.last.Pos()) {
		t.last = m
	}
	if m.Pos().After(t.reads[side]) {
		t.reads[side] = m.Pos()
	}
}

// repend puts back a summary that could not be recorded, merged with what became pending since;
// s.mu is held.
func (s *shard) repend(id string, t *roomTouch) {
	cur := s.pending[id]
	if cur == nil {
		s.pending[id] = t
		s.dirty = append([]string{id}, s.dirty...)
		return
	}
	cur.since = t.since
	if t.last.Pos().After(cur.last.Pos()) {
		cur.last = t.last
	}
	for side, p := range t.reads {
		if p.After(cur.reads[side]) {
			cur.reads[side] = p
		}
	}
}

// flushSome records pending summaries in their rooms: the oldest, up to most, of those pending
// since before dueBefore (all when zero) whose rooms match (all when match is nil). What it
// could not record stays pending. It returns how many it tried.
func (w *writer) flushSome(s *shard, most int, dueBefore time.Time, match func(roomID string) bool) (int, error) {
	s.mu.Lock()
	touches := map[string]*roomTouch{}
	var order []string
	kept := s.dirty[:0:0]
	for i, id := range s.dirty {
		if len(order) == most || !dueBefore.IsZero() && s.pending[id].since.After(dueBefore) {
			kept = append(kept, s.dirty[i:]...)
			break
		}
		if match != nil && !match(id) {
			kept = append(kept, id)
			continue
		}
		touches[id] = s.pending[id]
		delete(s.pending, id)
		order = append(order, id)
	}
	s.dirty = kept
	s.flushing = len(order) > 0
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.flushing = false
		s.mu.Unlock()
	}()
	if len(order) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	done, err := w.touch(ctx, s, order, touches)
	if err != nil {
		s.mu.Lock()
		for _, id := range slices.Backward(order[done:]) {
			s.repend(id, touches[id])
		}
		s.mu.Unlock()
	}
	return len(order), err
}

// touch records touches in rooms order: per room, its latest message becomes the last one
// unless a later one is recorded, and each side that sent moves its read position to its latest
// message (a sender has read what they reply to). Positions move with $max, and the last message
// is replaced only when it is later than the one recorded, so repeating it, or applying it out
// of order, changes nothing. It returns how many rooms of order it recorded.
func (w *writer) touch(ctx context.Context, s *shard, order []string, touches map[string]*roomTouch) (int, error) {
	if err := w.loadLastPos(ctx, s, order); err != nil {
		return 0, err
	}
	models := make([]mongo.WriteModel, len(order))
	newLast := make([]string, len(order)) // "" when the room's last message stays
	for i, id := range order {
		t := touches[id]
		pos := string(t.last.Pos())
		maxes := bson.M{"activity": pos, "last_pos": pos}
		for side, p := range t.reads {
			maxes[readField(side)] = string(p)
		}
		update := bson.M{"$max": maxes}
		if pos > s.lastPos[id] {
			update["$set"] = bson.M{"last": toMsgDoc(t.last)}
			newLast[i] = pos
		}
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": id}).SetUpdate(update)
	}
	unordered := options.BulkWrite().SetOrdered(false)
	for from := 0; from < len(order); from += maxUpdatesPerCommand {
		to := min(from+maxUpdatesPerCommand, len(order))
		// FerretDB reads, modifies and writes a document without isolation: AdvanceRead
		// updates rooms too (see docLocks).
		unlock := w.locks.lock(order[from:to]...)
		_, err := w.rooms.BulkWrite(ctx, models[from:to], unordered)
		unlock()
		if err != nil {
			// Some of the chunk may be written: the retry writes the same again. Forget
			// what we knew of these rooms so that the retry reads them.
			for _, id := range order[from:] {
				delete(s.lastPos, id)
			}
			return from, storeError("room touch", err)
		}
		for i := from; i < to; i++ {
			if newLast[i] != "" {
				s.lastPos[order[i]] = newLast[i]
			}
		}
	}
	return len(order), nil
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
