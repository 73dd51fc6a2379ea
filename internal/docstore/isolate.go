package docstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/semaphore"
)

// FerretDB 1.24 does not isolate concurrent updates of one document, on
// either backend: its handler reads the document in one statement, applies
// the update in Go and writes the result back in another
// (handler/common.UpdateDocument), so two concurrent $inc both read n and
// both write n+1. That cannot be fixed from the outside in FerretDB itself,
// but every client of an embedded store goes through this process, so the
// store can serialise the commands that read, modify and write: isolator
// sits between the clients and FerretDB, reads each OP_MSG, and holds a
// lock per document for update and findAndModify commands until FerretDB
// answered. A command whose every statement names its document by _id (chat
// rooms, counters) locks those ids, so updates of different documents still
// run in parallel; one that does not locks its whole collection.
//
// It also keeps FerretDB from hanging. FerretDB holds a pool connection for
// each statement's read until its command ends and takes another to write,
// so as many update statements at once as the pool holds wait for each
// other forever: one update command of 100 statements on SQLite (50 on
// PostgreSQL), or 150 clients updating at once, hung the store (chat's room
// touches are one bulk write per batch of up to 128 messages). The isolator
// bounds the update, findAndModify and delete statements in flight
// (statementSlots) and runs an update command of more than 16 statements as
// consecutive commands of 16, merging their replies.
//
// What it does not cover: writes sent without waiting for a reply
// (w:0, moreToCome), which hold no lock, and a client that disconnects in
// the middle of an update (its lock is released while FerretDB may still be
// writing). Inserts and reads are passed through untouched.

const (
	opMsg = 2013
	// flagChecksum and flagMoreToCome are OP_MSG flag bits.
	flagChecksum   = 1 << 0
	flagMoreToCome = 1 << 1
	// maxMessage is MongoDB's maxMessageSizeBytes; larger is a broken peer.
	maxMessage = 48_000_000
)

type isolator struct {
	ln       net.Listener
	upstream string // FerretDB's own address
	locks    lockTable
	// slots bounds the update, findAndModify and delete statements FerretDB
	// runs at once (see statementSlots); chunk is how many statements of one
	// update command it gets at a time.
	slots *semaphore.Weighted
	max   int64
	chunk int

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newIsolator(ln net.Listener, upstream string, slots int) *isolator {
	p := &isolator{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{},
		slots: semaphore.NewWeighted(int64(slots)), max: int64(slots), chunk: min(slots, 16)}
	p.locks.ns = map[string]*nsLock{}
	p.wg.Add(1)
	go p.serve()
	return p
}

// close stops accepting, closes every connection and waits for their
// goroutines.
func (p *isolator) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *isolator) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *isolator) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *isolator) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// handle relays one client connection to a FerretDB connection of its own.
func (p *isolator) handle(client net.Conn) {
	defer p.untrack(client)
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return // FerretDB is stopping; the client sees a closed connection
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)

	// held maps a request's id to what waits for its reply: the release of
	// its locks, or (a split command's part) a channel the reply goes to
	// instead of the client.
	var heldMu sync.Mutex
	held := map[int32]pending{}
	releaseAll := func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		for id, h := range held {
			if h.release != nil {
				h.release()
			}
			if h.reply != nil {
				close(h.reply)
			}
			delete(held, id)
		}
	}
	defer releaseAll()
	hold := func(id int32, h pending) {
		heldMu.Lock()
		held[id] = h
		heldMu.Unlock()
	}
	var writeMu sync.Mutex // the replies and a split command's merged reply
	toClient := func(msg []byte) error {
		writeMu.Lock()
		defer writeMu.Unlock()
		_, err := client.Write(msg)
		return err
	}

	replies := make(chan struct{})
	go func() {
		defer close(replies)
		defer client.Close() // unblocks the request loop below
		defer releaseAll()   // unblocks a split command waiting for a part's reply
		r := bufio.NewReaderSize(up, 64<<10)
		for {
			msg, err := readMessage(r)
			if err != nil {
				return
			}
			responseTo := int32(binary.LittleEndian.Uint32(msg[8:]))
			heldMu.Lock()
			h, ok := held[responseTo]
			delete(held, responseTo)
			heldMu.Unlock()
			if ok && h.release != nil {
				h.release()
			}
			if ok && h.reply != nil {
				h.reply <- msg
				continue
			}
			if err := toClient(msg); err != nil {
				return
			}
		}
	}()

	r := bufio.NewReaderSize(client, 64<<10)
	for {
		msg, err := readMessage(r)
		if err != nil {
			break
		}
		reqID := int32(binary.LittleEndian.Uint32(msg[4:]))
		cmd := parseCommand(msg)
		if cmd == nil {
			if _, err := up.Write(msg); err != nil {
				break
			}
			continue
		}
		unlock := func() {}
		if cmd.name != "delete" {
			unlock = p.locks.acquire(cmd.ns(), ids(cmd.filters))
		}
		if cmd.name == "update" && len(cmd.seq) > p.chunk {
			reply, err := p.split(cmd, up, func(id int32) chan []byte {
				ch := make(chan []byte, 1)
				hold(id, pending{reply: ch})
				return ch
			})
			unlock()
			if err != nil || toClient(reply) != nil {
				break
			}
			continue
		}
		weight := min(int64(max(cmd.statements, 1)), p.max)
		_ = p.slots.Acquire(context.Background(), weight) // never fails without a deadline
		hold(reqID, pending{release: func() { p.slots.Release(weight); unlock() }})
		if _, err := up.Write(msg); err != nil {
			break
		}
	}
	up.Close()
	<-replies
}

// pending is what waits for a request's reply (see handle).
type pending struct {
	release func()
	reply   chan []byte
}

// command is what the isolator reads of a write command.
type command struct {
	reqID      int32
	flags      uint32
	name       string // update, findAndModify or delete
	db, coll   string
	body       bson.Raw
	filters    []bson.Raw // of update and findAndModify
	seq        []bson.Raw // the "updates" document sequence, if sent as one
	statements int
}

func (c *command) ns() string { return c.db + "." + c.coll }

// split runs an update command of many statements as consecutive commands
// of p.chunk statements at most, and returns the reply the client would
// have had: FerretDB keeps every statement's read open until its command
// ends, so a command of as many statements as its connection pool holds
// (100 with SQLite, 50 with PostgreSQL) waits for itself forever. await
// registers a part's request id and returns where its reply arrives.
func (p *isolator) split(cmd *command, up net.Conn, await func(int32) chan []byte) ([]byte, error) {
	ordered := true
	if v, ok := cmd.body.Lookup("ordered").BooleanOK(); ok {
		ordered = v
	}
	var n, modified int64
	var upserted, writeErrors bson.A
	var concernErr bson.RawValue
	var last []byte
	for off := 0; off < len(cmd.seq); off += p.chunk {
		part := cmd.seq[off:min(off+p.chunk, len(cmd.seq))]
		reply := await(cmd.reqID)
		weight := int64(len(part))
		_ = p.slots.Acquire(context.Background(), weight)
		_, err := up.Write(opMsgWithSequence(cmd.reqID, 0, cmd.flags&^flagChecksum, cmd.body, "updates", part))
		var msg []byte
		if err == nil {
			msg = <-reply
		}
		p.slots.Release(weight)
		if msg == nil {
			return nil, errors.New("connection closed")
		}
		last = msg
		body, _, ok := sections(msg[20:])
		if !ok || body.Validate() != nil {
			return msg, nil
		}
		if okv, _ := body.Lookup("ok").AsFloat64OK(); okv != 1 {
			return msg, nil // the command failed as a whole: that is the answer
		}
		pn, _ := body.Lookup("n").AsInt64OK()
		pm, _ := body.Lookup("nModified").AsInt64OK()
		n, modified = n+pn, modified+pm
		upserted = append(upserted, reindexed(body.Lookup("upserted"), off)...)
		errs := reindexed(body.Lookup("writeErrors"), off)
		writeErrors = append(writeErrors, errs...)
		if v := body.Lookup("writeConcernError"); v.Type != 0 {
			concernErr = v
		}
		if ordered && len(errs) > 0 {
			break
		}
	}
	out := bson.D{{Key: "n", Value: int32(n)}, {Key: "nModified", Value: int32(modified)}}
	if len(upserted) > 0 {
		out = append(out, bson.E{Key: "upserted", Value: upserted})
	}
	if len(writeErrors) > 0 {
		out = append(out, bson.E{Key: "writeErrors", Value: writeErrors})
	}
	if concernErr.Type != 0 {
		out = append(out, bson.E{Key: "writeConcernError", Value: concernErr})
	}
	out = append(out, bson.E{Key: "ok", Value: 1.0})
	body, err := bson.Marshal(out)
	if err != nil {
		return nil, err
	}
	return opMsgWithSequence(int32(binary.LittleEndian.Uint32(last[4:])), cmd.reqID, 0, body, "", nil), nil
}

// reindexed returns the documents of an array of {index, ...} with index
// moved by off, as a part's upserted or writeErrors entries become the
// whole command's.
func reindexed(v bson.RawValue, off int) bson.A {
	arr, ok := v.ArrayOK()
	if !ok {
		return nil
	}
	vals, _ := arr.Values()
	var out bson.A
	for _, e := range vals {
		d, ok := e.DocumentOK()
		if !ok {
			continue
		}
		elems, _ := d.Elements()
		doc := make(bson.D, 0, len(elems))
		for _, el := range elems {
			if el.Key() == "index" {
				i, _ := el.Value().AsInt64OK()
				doc = append(doc, bson.E{Key: "index", Value: int32(i + int64(off))})
				continue
			}
			doc = append(doc, bson.E{Key: el.Key(), Value: el.Value()})
		}
		out = append(out, doc)
	}
	return out
}

// opMsgWithSequence builds an OP_MSG of body and, unless seqID is empty,
// a document sequence.
func opMsgWithSequence(requestID, responseTo int32, flags uint32, body []byte, seqID string, docs []bson.Raw) []byte {
	n := 16 + 4 + 1 + len(body)
	seqLen := 0
	if seqID != "" {
		seqLen = 4 + len(seqID) + 1
		for _, d := range docs {
			seqLen += len(d)
		}
		n += 1 + seqLen
	}
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, uint32(requestID))
	b = binary.LittleEndian.AppendUint32(b, uint32(responseTo))
	b = binary.LittleEndian.AppendUint32(b, opMsg)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(b, 0)
	b = append(b, body...)
	if seqID != "" {
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, uint32(seqLen))
		b = append(b, seqID...)
		b = append(b, 0)
		for _, d := range docs {
			b = append(b, d...)
		}
	}
	return b
}

// readMessage reads one wire-protocol message, header included.
func readMessage(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(hdr[:]))
	if n < 16 || n > maxMessage {
		return nil, errors.New("bad message length " + strconv.Itoa(n))
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// parseCommand reads the update, findAndModify and delete commands the
// isolator locks or bounds; nil for any other message.
func parseCommand(msg []byte) *command {
	if len(msg) < 21 || binary.LittleEndian.Uint32(msg[12:]) != opMsg {
		return nil
	}
	flags := binary.LittleEndian.Uint32(msg[16:])
	if flags&flagMoreToCome != 0 {
		return nil // no reply will come to release a lock
	}
	end := len(msg)
	if flags&flagChecksum != 0 {
		end -= 4
	}
	body, seqs, ok := sections(msg[20:end])
	if !ok || body.Validate() != nil {
		return nil // FerretDB answers a malformed message with an error
	}
	first, err := body.IndexErr(0)
	if err != nil {
		return nil
	}
	coll, ok := first.Value().StringValueOK()
	if !ok {
		return nil
	}
	cmd := &command{reqID: int32(binary.LittleEndian.Uint32(msg[4:])), flags: flags, body: body, coll: coll}
	cmd.db, _ = body.Lookup("$db").StringValueOK()
	switch first.Key() {
	case "update":
		cmd.name = "update"
		if arr, ok := body.Lookup("updates").ArrayOK(); ok {
			vals, _ := arr.Values()
			for _, v := range vals {
				d, _ := v.DocumentOK()
				q, _ := d.Lookup("q").DocumentOK()
				cmd.filters = append(cmd.filters, q)
			}
		}
		cmd.seq = seqs["updates"]
		for _, d := range cmd.seq {
			q, _ := d.Lookup("q").DocumentOK()
			cmd.filters = append(cmd.filters, q)
		}
		cmd.statements = len(cmd.filters)
	case "findAndModify", "findandmodify":
		cmd.name = "findAndModify"
		q, _ := body.Lookup("query").DocumentOK()
		cmd.filters, cmd.statements = []bson.Raw{q}, 1
	case "delete":
		cmd.name = "delete"
		if arr, ok := body.Lookup("deletes").ArrayOK(); ok {
			vals, _ := arr.Values()
			cmd.statements = len(vals)
		}
		cmd.statements += len(seqs["deletes"])
	default:
		return nil
	}
	return cmd
}

// ids returns the sorted, distinct document keys of filters, or nil (the
// collection's lock) when one of them does not name its document.
func ids(filters []bson.Raw) []string {
	out := make([]string, 0, len(filters))
	for _, f := range filters {
		id, ok := idKey(f)
		if !ok {
			return nil
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sections splits an OP_MSG's sections into its body and its document
// sequences by identifier.
func sections(b []byte) (bson.Raw, map[string][]bson.Raw, bool) {
	var body bson.Raw
	var seqs map[string][]bson.Raw
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		if len(b) < 4 {
			return nil, nil, false
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n < 5 || n > len(b) {
			return nil, nil, false
		}
		switch kind {
		case 0:
			body = bson.Raw(b[:n])
		case 1:
			s := b[4:n]
			i := slices.Index(s, 0)
			if i < 0 {
				return nil, nil, false
			}
			id := string(s[:i])
			for s = s[i+1:]; len(s) >= 5; {
				m := int(binary.LittleEndian.Uint32(s))
				if m < 5 || m > len(s) {
					return nil, nil, false
				}
				if seqs == nil {
					seqs = map[string][]bson.Raw{}
				}
				d := bson.Raw(s[:m])
				if d.Validate() != nil {
					return nil, nil, false
				}
				seqs[id] = append(seqs[id], d)
				s = s[m:]
			}
		default:
			return nil, nil, false
		}
		b = b[n:]
	}
	return body, seqs, true
}

// idKey names the one document a filter can match when it gives its _id
// as a value ({_id: v, ...} or {_id: {$eq: v}, ...}). Numbers that MongoDB
// compares equal (1, 1.0, int64 1) get the same key.
func idKey(filter bson.Raw) (string, bool) {
	v, err := filter.LookupErr("_id")
	if err != nil {
		return "", false
	}
	if d, ok := v.DocumentOK(); ok {
		e, err := d.IndexErr(0)
		if err == nil && len(e.Key()) > 0 && e.Key()[0] == '$' {
			if e.Key() != "$eq" {
				return "", false // a range or a set: any number of documents
			}
			v = e.Value()
		}
	}
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble:
		f, _ := v.AsFloat64OK()
		if math.IsNaN(f) {
			return "", false
		}
		return "n" + strconv.FormatFloat(f, 'g', -1, 64), true
	case bson.TypeArray, bson.TypeRegex:
		return "", false // matches by element or pattern
	}
	return string(rune(v.Type)) + string(v.Value), true
}

// lockTable holds a readers-writer lock per collection and a mutex per
// locked document id, created on demand and dropped when unused.
type lockTable struct {
	mu sync.Mutex
	ns map[string]*nsLock
}

type nsLock struct {
	rw   sync.RWMutex
	refs int
	ids  map[string]*idLock
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

// acquire locks ids (sorted, distinct) of collection ns, or, with no ids,
// the whole collection, and returns the release. Locks are always taken in
// the same order (collection, then ids ascending), so two commands cannot
// wait for each other.
func (t *lockTable) acquire(ns string, ids []string) func() {
	t.mu.Lock()
	n := t.ns[ns]
	if n == nil {
		n = &nsLock{ids: map[string]*idLock{}}
		t.ns[ns] = n
	}
	n.refs++
	held := make([]*idLock, len(ids))
	for i, id := range ids {
		l := n.ids[id]
		if l == nil {
			l = &idLock{}
			n.ids[id] = l
		}
		l.refs++
		held[i] = l
	}
	t.mu.Unlock()

	if len(ids) == 0 {
		n.rw.Lock()
	} else {
		n.rw.RLock()
		for _, l := range held {
			l.mu.Lock()
		}
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].mu.Unlock()
		}
		if len(ids) == 0 {
			n.rw.Unlock()
		} else {
			n.rw.RUnlock()
		}
		t.mu.Lock()
		for i, id := range ids {
			if held[i].refs--; held[i].refs == 0 {
				delete(n.ids, id)
			}
		}
		if n.refs--; n.refs == 0 {
			delete(t.ns, ns)
		}
		t.mu.Unlock()
	}
}

// statementSlots bounds, per backend, the update, findAndModify and delete
// statements FerretDB runs at once. Each statement keeps its read's
// connection while it takes another to write, so as many statements at once
// as the connection pool holds (100 with SQLite, FerretDB's pool_max_conns
// 50 with PostgreSQL) all wait for a second connection forever: 150
// clients updating at once, or one update command of 100 statements, hung
// the store. With at most this many, at most twice as many connections are
// taken, leaving some for reads and inserts.
var statementSlots = map[string]int{BackendSQLite: 40, BackendPostgreSQL: 20}
