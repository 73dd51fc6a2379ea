package edge

import (
	"encoding/json"
	"math/rand/v2"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// The notify service stores a user's notifications in sequence order but publishes each one
// after its own transaction committed, from concurrent workers (and instances): under load
// the pushes reach NATS slightly out of order. The edge puts them back in order, so a client
// sees a gap only when a push was really lost.
func TestNotificationsReachAUserInSequenceOrder(t *testing.T) {
	e := newEnv(t)
	serveNotify(t, e.rt) // nothing stored yet: resume answers last_seq 0
	ed := e.edge(Config{})
	u := principal(contracts.RoleSeller)
	c := dial(t, ed.url)
	c.mustAuth(e.iss.token(u))
	if f := c.call(map[string]any{"type": "resume", "since": 0}); f.Type != protocol.TypeOK {
		t.Fatalf("resume: %+v", f)
	}

	// Commit order 1..n, publish order permuted within windows of up to 6, as racing workers
	// leave it (seeded, so a failure can be replayed).
	const n = 200 // under the send queue (256): the test reads after publishing
	rng := rand.New(rand.NewPCG(7, 7))
	var order []uint64
	for next := uint64(1); next <= n; {
		w := min(uint64(1+rng.IntN(6)), n-next+1)
		for _, i := range rng.Perm(int(w)) {
			order = append(order, next+uint64(i))
		}
		next += w
	}
	for _, seq := range order {
		e.push(u.UserID, contracts.PushTopicNotification, seq, contracts.Notification{Seq: seq, Title: "n"})
	}
	for want := uint64(1); want <= n; want++ {
		f := c.next()
		if f.Type != protocol.TypeNotification || f.Seq != want {
			t.Fatalf("push %d: got %s seq %d, want notification seq %d", want, f.Type, f.Seq, want)
		}
	}

	// A push that is really lost does not hold the next ones back for long: they come after
	// the edge's short wait, and the client sees the gap and resumes.
	start := time.Now()
	e.push(u.UserID, contracts.PushTopicNotification, n+2, contracts.Notification{Seq: n + 2})
	e.push(u.UserID, contracts.PushTopicNotification, n+3, contracts.Notification{Seq: n + 3})
	for _, want := range []uint64{n + 2, n + 3} {
		if f := c.next(); f.Type != protocol.TypeNotification || f.Seq != want {
			t.Fatalf("after a lost push: got %s seq %d, want %d", f.Type, f.Seq, want)
		}
	}
	if waited := time.Since(start); waited > 2*notifyReorderWait+time.Second {
		t.Fatalf("pushes after a lost one waited %s", waited)
	}
	// Late ones and repeats pass straight through: the client drops them by sequence.
	e.push(u.UserID, contracts.PushTopicNotification, n+1, contracts.Notification{Seq: n + 1})
	if f := c.next(); f.Seq != n+1 {
		t.Fatalf("late push: got seq %d", f.Seq)
	}

	// Workers as notify runs them, each on its own bus connection like separate instances:
	// take the next sequence under a lock (the commit), then publish after it.
	const workers, each = 8, 25
	var mu sync.Mutex
	next := uint64(n + 3)
	subject, _ := contracts.PushUserSubject(u.UserID)
	var wg sync.WaitGroup
	for range workers {
		nc := e.ns.Conn(t)
		wg.Go(func() {
			for range each {
				mu.Lock()
				next++
				seq := next
				mu.Unlock()
				goruntime.Gosched() // the commit's round trip: another worker may publish first
				body, _ := json.Marshal(contracts.Notification{Seq: seq})
				msg, _ := json.Marshal(contracts.Push{Topic: contracts.PushTopicNotification, Seq: seq, Body: body})
				if err := nc.Publish(subject, msg); err != nil {
					t.Error(err)
				}
			}
			_ = nc.Flush()
		})
	}
	wg.Wait()
	for want := uint64(n + 4); want <= n+3+workers*each; want++ {
		if f := c.next(); f.Type != protocol.TypeNotification || f.Seq != want {
			t.Fatalf("concurrent workers: got %s seq %d, want %d", f.Type, f.Seq, want)
		}
	}
}

// The order's rules without a network: the baseline, holding, filling, overflowing, and a
// wait that was stopped after its timer fired.
func TestSeqOrderRules(t *testing.T) {
	seqs := func(frames [][]byte) string {
		var s []string
		for _, f := range frames {
			s = append(s, string(f))
		}
		return strings.Join(s, ",")
	}
	f := func(n int) []byte { return []byte(strconv.Itoa(n)) }
	var fired []uint64
	expire := func(w uint64) { fired = append(fired, w) }

	o := &seqOrder{}
	o.seed(4)
	for _, step := range []struct {
		seq  int
		want string
	}{{6, ""}, {7, ""}, {5, "5,6,7"}, {3, "3"}, {9, ""}} {
		if got := seqs(o.admit(uint64(step.seq), f(step.seq), expire)); got != step.want {
			t.Fatalf("admit %d: sent %q, want %q", step.seq, got, step.want)
		}
	}
	// 9 waits for 8. A wait that was stopped after its timer fired finds itself outdated and
	// leaves the held pushes alone.
	if o.timer == nil {
		t.Fatal("no wait runs for 8")
	}
	stale := o.wait
	o.rearm(expire) // as when a gap fills while the timer's callback waits for the lock
	(&hub{topics: map[string]*topic{}}).expireHeld("push.user.u", o, stale)
	if len(o.held) != 1 {
		t.Fatalf("an outdated wait released the held pushes: %d left", len(o.held))
	}
	if got := seqs(o.release()); got != "9" || o.last != 9 {
		t.Fatalf("release: %q, last %d", got, o.last)
	}
	o.seed(100) // known already: no effect
	if o.last != 9 {
		t.Fatalf("seed moved a known baseline to %d", o.last)
	}
	// Too many held: all go out in order.
	for i := 11; i < 11+notifyMaxHeld; i++ {
		if got := o.admit(uint64(i), f(i), expire); got != nil {
			t.Fatalf("admit %d sent %q", i, seqs(got))
		}
	}
	out := o.admit(uint64(11+notifyMaxHeld), f(11+notifyMaxHeld), expire)
	if len(out) != notifyMaxHeld+1 || string(out[0]) != "11" || o.last != uint64(11+notifyMaxHeld) || o.timer != nil {
		t.Fatalf("overflow sent %d frames, last %d", len(out), o.last)
	}
}
