package edge

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// topicKind says what a push subject carries and so how its messages become frames.
type topicKind uint8

const (
	kindUser     topicKind = iota // push.user.<id>: a user's chat messages, receipts, notifications
	kindRoom                      // push.room.<id>: typing signals of a room
	kindPresence                  // push.presence.<id>: a user's online state
)

// topic is one NATS subject the edge listens on for its connections. An edge subscribes to a
// subject when its first connection needs it and unsubscribes after the last one left, so
// an instance only receives what its own clients can see.
type topic struct {
	kind  topicKind
	sub   *nats.Subscription
	conns []*conn       // usually one or two: a slice is far smaller than a map
	ready chan struct{} // closed once the server has the subscription
	order *seqOrder     // a user topic's notification order (order.go); nil for other kinds
	err   error         // set before ready is closed when subscribing failed
}

// hub routes push subjects to connections. Messages of all subscriptions arrive on a few
// shared channels (nats.ChanSubscribe: no goroutine per subscription), sharded by subject so
// that one subject's messages stay in order while the shards work in parallel.
type hub struct {
	nc      *nats.Conn
	log     *slog.Logger
	shards  []chan *nats.Msg
	metrics *metrics
	// observe is told about presence pushes (so the edge knows watched users' last state).
	observe func(p contracts.Presence)

	mu     sync.RWMutex
	topics map[string]*topic
	closed bool
	wg     sync.WaitGroup
}

const (
	hubShards     = 4
	hubShardDepth = 8192
	flushTimeout  = 5 * time.Second
)

// closedChan is the ready channel of every confirmed topic.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newHub(nc *nats.Conn, log *slog.Logger, m *metrics) *hub {
	h := &hub{nc: nc, log: log, metrics: m, topics: map[string]*topic{}, observe: func(contracts.Presence) {}}
	for range hubShards {
		ch := make(chan *nats.Msg, hubShardDepth)
		h.shards = append(h.shards, ch)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for m := range ch {
				h.deliver(m)
			}
		}()
	}
	return h
}

func (h *hub) shard(subject string) chan *nats.Msg {
	f := fnv.New32a()
	_, _ = f.Write([]byte(subject))
	return h.shards[f.Sum32()%uint32(len(h.shards))]
}

// join adds c to subject's listeners, subscribing on first use. It returns once the server
// has the subscription, so that anything published after join returns reaches c.
func (h *hub) join(subject string, kind topicKind, c *conn) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return contracts.ErrUnavailable.Msg("the edge is shutting down")
	}
	t := h.topics[subject]
	created := t == nil
	if created {
		t = &topic{kind: kind, ready: make(chan struct{})}
		if kind == kindUser {
			t.order = &seqOrder{}
		}
		sub, err := h.nc.ChanSubscribe(subject, h.shard(subject))
		if err != nil {
			h.mu.Unlock()
			return contracts.ErrUnavailable.Msg("cannot listen for pushes: %v", err).Wrap(err)
		}
		t.sub = sub
		h.topics[subject] = t
	}
	t.conns = append(t.conns, c)
	ready := t.ready
	h.mu.Unlock()
	if created {
		if err := h.nc.FlushTimeout(flushTimeout); err != nil {
			t.err = contracts.ErrUnavailable.Msg("the push subscription was not confirmed: %v", err).Wrap(err)
		}
		close(ready)
		h.mu.Lock()
		t.ready = closedChan // the topic's own channel is garbage from now on
		h.mu.Unlock()
	}
	var err error
	select {
	case <-ready:
		err = t.err
	case <-time.After(flushTimeout):
		err = contracts.ErrUnavailable.Msg("the push subscription was not confirmed in time")
	}
	if err != nil {
		h.leave(subject, c)
	}
	return err
}

// leave removes c from subject's listeners and unsubscribes when it was the last.
func (h *hub) leave(subject string, c *conn) {
	h.mu.Lock()
	t := h.topics[subject]
	if t == nil {
		h.mu.Unlock()
		return
	}
	for i, x := range t.conns {
		if x == c {
			last := len(t.conns) - 1
			t.conns[i] = t.conns[last]
			t.conns[last] = nil
			t.conns = t.conns[:last]
			break
		}
	}
	var sub *nats.Subscription
	if len(t.conns) == 0 {
		delete(h.topics, subject)
		sub = t.sub
	}
	h.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
}

// listeners returns a copy of subject's connections.
func (h *hub) listeners(subject string) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.topics[subject]
	if t == nil {
		return nil
	}
	return append([]*conn(nil), t.conns...)
}

// deliver turns one push into one frame, encoded once, and queues it on every listening
// connection. Queuing never blocks: a connection that cannot take it is closed instead.
func (h *hub) deliver(m *nats.Msg) {
	h.mu.RLock()
	t := h.topics[m.Subject]
	var kind topicKind
	var conns []*conn
	var order *seqOrder
	if t != nil {
		kind, order = t.kind, t.order
		conns = append(conns, t.conns...)
	}
	h.mu.RUnlock()
	if len(conns) == 0 {
		return
	}
	p, err := decodePush(m.Data)
	if err != nil || p.Topic == "" || len(p.Topic) > protocol.MaxTopicLen {
		h.log.Warn("dropping a malformed push", "subject", m.Subject, "error", err)
		return
	}
	var skipUser string
	switch kind {
	case kindRoom:
		var ty contracts.ChatTyping
		if json.Unmarshal(p.Body, &ty) != nil {
			return
		}
		skipUser = ty.UserID // the typist's own screens do not show their typing
	case kindPresence:
		var pr contracts.Presence
		if json.Unmarshal(p.Body, &pr) == nil {
			h.observe(pr)
		}
	}
	// Encoded once for every connection, as a frame and as WebSocket bytes (enqueueWire).
	frame, wire, err := pushWire(p)
	if err != nil {
		h.log.Warn("dropping a push that cannot be encoded", "subject", m.Subject, "error", err)
		return
	}
	if order != nil && p.Topic == contracts.PushTopicNotification {
		h.deliverNotification(m.Subject, order, p.Seq, frame, wire)
		return
	}
	for _, c := range conns {
		if skipUser != "" && c.userID() == skipUser {
			continue
		}
		c.enqueueWire(frame, wire)
	}
	h.metrics.pushes.Add(float64(len(conns)))
}

// decodePush decodes a push. What json.Marshal makes of a contracts.Push —
// {"topic":"…","seq":N,"body":…} with seq left out when 0 — is read directly, without
// encoding/json's reflection and allocations (it runs once per push on the fan-out path);
// anything else, or a topic with escapes, goes to json.Unmarshal. The body is checked to be
// valid JSON either way, and it shares data's memory.
func decodePush(data []byte) (contracts.Push, error) {
	var p contracts.Push
	rest, ok := bytes.CutPrefix(data, []byte(`{"topic":"`))
	if ok {
		end := bytes.IndexByte(rest, '"')
		ok = end > 0
		if ok {
			topic := rest[:end]
			for _, c := range topic {
				if c == '\\' || c < 0x20 || c > 0x7e { // escapes and UTF-8: json.Unmarshal's job
					ok = false
				}
			}
			if string(topic) == contracts.PushTopicNotification {
				p.Topic = contracts.PushTopicNotification // no allocation for the common one
			} else {
				p.Topic = string(topic)
			}
			rest = rest[end+1:]
		}
	}
	if ok {
		if r, has := bytes.CutPrefix(rest, []byte(`,"seq":`)); has {
			i := 0
			var seq uint64
			for i < len(r) && r[i] >= '0' && r[i] <= '9' && i < 19 { // 19 digits cannot overflow
				seq = seq*10 + uint64(r[i]-'0')
				i++
			}
			ok = i > 0 && (i == 1 || r[0] != '0') && (i == len(r) || r[i] < '0' || r[i] > '9')
			p.Seq, rest = seq, r[i:]
		}
	}
	if ok {
		body, has := bytes.CutPrefix(rest, []byte(`,"body":`))
		ok = has && len(body) > 1 && body[len(body)-1] == '}'
		if ok {
			body = body[:len(body)-1]
			ok = json.Valid(body)
			p.Body = body
		}
	}
	if ok {
		return p, nil
	}
	p = contracts.Push{}
	err := json.Unmarshal(data, &p)
	return p, err
}

// pushFrame is the frame a push becomes: a notification frame for stored notifications (the
// client checks their sequence), an event frame for everything else. It is built by hand
// because it runs once per push on the fan-out path; p.Body is valid JSON already (it was
// decoded from the push).
func pushFrame(p contracts.Push) ([]byte, error) {
	frame, _, err := pushWire(p)
	return frame, err
}

// pushWire is pushFrame with the frame's WebSocket encoding (wireText), built in one buffer:
// the frame is written behind room for the longest header, which is filled in afterwards.
func pushWire(p contracts.Push) (frame, wire []byte, err error) {
	body := []byte(p.Body)
	if len(body) == 0 {
		body = []byte("null")
	}
	b := make([]byte, maxWireHeader, maxWireHeader+len(body)+len(p.Topic)+64)
	if p.Topic == contracts.PushTopicNotification {
		b = append(b, `{"v":1,"type":"notification","seq":`...)
		b = strconv.AppendUint(b, p.Seq, 10)
	} else {
		topic, err := json.Marshal(p.Topic)
		if err != nil {
			return nil, nil, err
		}
		b = append(b, `{"v":1,"type":"event","topic":`...)
		b = append(b, topic...)
		if p.Seq > 0 {
			b = append(b, `,"seq":`...)
			b = strconv.AppendUint(b, p.Seq, 10)
		}
	}
	b = append(b, `,"body":`...)
	b = append(b, body...)
	b = append(b, '}')
	frame = b[maxWireHeader:]
	h := wireHeader(len(frame))
	wire = b[maxWireHeader-len(h):]
	copy(wire, h)
	return frame, wire, nil
}

// close unsubscribes everything and stops the dispatchers.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for s, t := range h.topics {
		_ = t.sub.Unsubscribe()
		delete(h.topics, s)
	}
	h.mu.Unlock()
	for _, ch := range h.shards {
		close(ch)
	}
	h.wg.Wait()
}
