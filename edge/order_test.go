package edge

import (
	"math/rand/v2"
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
}
