package edge

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// presenceGC is the bucket's max age: a key nobody renewed for this long (every instance
// holding it died) disappears.
const presenceGC = 24 * time.Hour

const presenceOpTimeout = 5 * time.Second

// presence keeps sellers' online state in the key-value bucket contracts.PresenceBucket,
// shared by every edge instance: one key per seller, holding each instance's claim with an
// expiry (contracts.PresenceRecord). An instance claims a seller on their first connection
// here, renews the claim every PresenceTTL/3 and withdraws it after their last connection; the
// changes online→offline and back are published on push.presence.<user_id> for the edges whose
// clients watch that seller. A claim of a crashed instance lapses after PresenceTTL, and the
// edges watching the seller notice on their next renewal round.
//
// Only sellers are tracked: their state is what the consumers of their rooms see, and not
// writing a key per consumer keeps the bucket small.
type presence struct {
	js  jetstream.JetStream
	nc  *nats.Conn
	hub *hub
	id  string
	ttl time.Duration
	log *slog.Logger

	ops     chan presenceOp
	done    chan struct{} // closed to stop the presence goroutine
	stopped chan struct{} // closed when it has stopped

	mu      sync.Mutex
	kv      jetstream.KeyValue
	local   map[string]int          // sellers connected to this instance -> connections
	watched map[string]*watchedUser // sellers whose state clients here watch
}

type watchedUser struct {
	n      int
	online bool
}

type presenceOp struct {
	userID string
	online bool
}

func newPresence(js jetstream.JetStream, nc *nats.Conn, h *hub, id string, ttl time.Duration, log *slog.Logger) *presence {
	p := &presence{js: js, nc: nc, hub: h, id: id, ttl: ttl, log: log,
		ops: make(chan presenceOp, 4096), done: make(chan struct{}), stopped: make(chan struct{}),
		local: map[string]int{}, watched: map[string]*watchedUser{}}
	go p.run()
	return p
}

// key is a user's key in the bucket. Key characters are restricted, so ids with others are
// hex-encoded; the prefixes keep the two forms apart.
func presenceKey(userID string) string {
	for i := 0; i < len(userID); i++ {
		c := userID[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "h_" + hex.EncodeToString([]byte(userID))
		}
	}
	return "u_" + userID
}

// connected and disconnected count a seller's connections here; the first and the last change
// the claim, in order, on the presence goroutine.
func (p *presence) connected(userID string)    { p.count(userID, +1) }
func (p *presence) disconnected(userID string) { p.count(userID, -1) }

func (p *presence) count(userID string, d int) {
	p.mu.Lock()
	n := p.local[userID] + d
	if n <= 0 {
		delete(p.local, userID)
	} else {
		p.local[userID] = n
	}
	p.mu.Unlock()
	if (d > 0 && n == 1) || (d < 0 && n == 0) {
		select {
		case p.ops <- presenceOp{userID: userID, online: d > 0}:
		case <-p.done:
		}
	}
}

func (p *presence) watch(userID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.watched[userID]
	if w == nil {
		w = &watchedUser{}
		p.watched[userID] = w
	}
	w.n++
}

func (p *presence) unwatch(userID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.watched[userID]; w != nil {
		if w.n--; w.n <= 0 {
			delete(p.watched, userID)
		}
	}
}

// observe records a watched user's state from a presence push.
func (p *presence) observe(pr contracts.Presence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.watched[pr.UserID]; w != nil {
		w.online = pr.Online
	}
}

// run applies claims in order and renews them. It is not a bus.Job: the renewal must not run
// beside an apply (a renewal racing a user's going offline would put the withdrawn claim back),
// so both go through this one loop, which is the claims' only writer.
func (p *presence) run() {
	defer close(p.stopped)
	tick := time.NewTicker(p.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case op := <-p.ops:
			p.apply(op.userID, op.online)
		case <-tick.C:
			p.renew()
		case <-p.done:
			return
		}
	}
}

func (p *presence) apply(userID string, on bool) {
	ctx, cancel := context.WithTimeout(context.Background(), presenceOpTimeout)
	defer cancel()
	if err := p.update(ctx, userID, on); err != nil {
		p.log.Warn("updating presence failed", "online", on, "error", err)
	}
}

func (p *presence) publish(pr contracts.Presence) {
	subject, err := contracts.PushPresenceSubject(pr.UserID)
	if err != nil {
		return
	}
	body, _ := json.Marshal(pr)
	msg, _ := json.Marshal(contracts.Push{Topic: contracts.PushTopicPresence, Body: body})
	if err := p.nc.Publish(subject, msg); err != nil {
		p.log.Warn("publishing presence failed", "error", err)
	}
}

// renew refreshes this instance's claims, and rechecks watched users shown online: a user
// whose only instance crashed was never announced offline, so their claim simply lapsed.
func (p *presence) renew() {
	p.mu.Lock()
	local := make([]string, 0, len(p.local))
	for u := range p.local {
		local = append(local, u)
	}
	var recheck []string
	for u, w := range p.watched {
		if w.online && p.local[u] == 0 {
			recheck = append(recheck, u)
		}
	}
	p.mu.Unlock()
	for _, u := range local {
		p.apply(u, true)
	}
	for _, u := range recheck {
		st := p.state(context.Background(), u)
		if st.Online {
			continue
		}
		st.At = time.Now().UTC()
		subject, err := contracts.PushPresenceSubject(u)
		if err != nil {
			continue
		}
		body, _ := json.Marshal(st)
		frame, err := pushFrame(contracts.Push{Topic: contracts.PushTopicPresence, Body: body})
		if err != nil {
			continue
		}
		for _, c := range p.hub.listeners(subject) {
			c.enqueue(frame)
		}
	}
}

// close withdraws this instance's claims (its users are offline unless connected elsewhere)
// and stops.
func (p *presence) close(ctx context.Context) {
	close(p.done)
	select {
	case <-p.stopped:
	case <-ctx.Done():
	}
	p.mu.Lock()
	users := map[string]bool{}
	for u := range p.local {
		users[u] = true
	}
	p.local = map[string]int{}
	p.mu.Unlock()
	// Claims queued but not applied yet may or may not have been written: withdraw them too.
	for drained := false; !drained; {
		select {
		case op := <-p.ops:
			users[op.userID] = true
		default:
			drained = true
		}
	}
	for u := range users {
		if err := p.update(ctx, u, false); err != nil {
			p.log.Warn("withdrawing presence failed", "error", err)
		}
	}
}
