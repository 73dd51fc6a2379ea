package docstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
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
// What it does not cover: writes sent without waiting for a reply
// (w:0, moreToCome), which hold no lock, and a client that disconnects in
// the middle of an update (its lock is released while FerretDB may still be
// writing). Inserts, deletes and reads are passed through untouched.

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

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newIsolator(ln net.Listener, upstream string) *isolator {
	p := &isolator{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
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

	// held maps a request's id to the release of the locks it holds until
	// its reply passes.
	var heldMu sync.Mutex
	held := map[int32]func(){}
	releaseAll := func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		for id, release := range held {
			release()
			delete(held, id)
		}
	}
	defer releaseAll()

	replies := make(chan struct{})
	go func() {
		defer close(replies)
		defer client.Close() // unblocks the request loop below
		r := bufio.NewReaderSize(up, 64<<10)
		for {
			msg, err := readMessage(r)
			if err != nil {
				return
			}
			responseTo := int32(binary.LittleEndian.Uint32(msg[8:]))
			heldMu.Lock()
			if release, ok := held[responseTo]; ok {
				release()
				delete(held, responseTo)
			}
			heldMu.Unlock()
			if _, err := client.Write(msg); err != nil {
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
		if release := p.lockFor(msg); release != nil {
			heldMu.Lock()
			held[int32(binary.LittleEndian.Uint32(msg[4:]))] = release
			heldMu.Unlock()
		}
		if _, err := up.Write(msg); err != nil {
			break
		}
	}
	up.Close()
	<-replies
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

// lockFor takes the locks a message needs and returns their release, or
// nil when it needs none.
func (p *isolator) lockFor(msg []byte) func() {
	if binary.LittleEndian.Uint32(msg[12:]) != opMsg || len(msg) < 21 {
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
	db, _ := body.Lookup("$db").StringValueOK()
	var filters []bson.Raw
	switch first.Key() {
	case "update":
		if arr, ok := body.Lookup("updates").ArrayOK(); ok {
			vals, _ := arr.Values()
			for _, v := range vals {
				d, _ := v.DocumentOK()
				q, _ := d.Lookup("q").DocumentOK()
				filters = append(filters, q)
			}
		}
		for _, d := range seqs["updates"] {
			q, _ := d.Lookup("q").DocumentOK()
			filters = append(filters, q)
		}
	case "findAndModify", "findandmodify":
		q, _ := body.Lookup("query").DocumentOK()
		filters = append(filters, q)
	default:
		return nil
	}
	if len(filters) == 0 {
		return nil
	}
	ns := db + "." + coll
	ids := make([]string, 0, len(filters))
	for _, f := range filters {
		id, ok := idKey(f)
		if !ok {
			return p.locks.acquire(ns, nil)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return p.locks.acquire(ns, slices.Compact(ids))
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
