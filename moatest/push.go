package moatest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
)

// pushTimeout bounds a wait for one push: a push follows its cause within milliseconds, and a
// loaded machine gets seconds.
const pushTimeout = 20 * time.Second

// Pushes are what one user's connections would receive: the pushes on push.user.<id>, read
// on a NATS connection of the test's own as an edge instance subscribes, in arrival order.
type Pushes struct {
	subject string
	ch      chan pushOrError
}

type pushOrError struct {
	push contracts.Push
	err  error
}

// Pushes subscribes to userID's push subject and returns what arrives from now on; the
// subscription is in place when Pushes returns, so nothing sent afterwards is missed.
func (k *Kit[C]) Pushes(t testing.TB, userID string) *Pushes {
	t.Helper()
	subject, err := contracts.PushUserSubject(userID)
	if err != nil {
		t.Fatalf("moatest.Kit.Pushes: %v", err)
	}
	p := &Pushes{subject: subject, ch: make(chan pushOrError, 1024)}
	nc := k.NATS.Conn(t)
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var push contracts.Push
		if err := json.Unmarshal(m.Data, &push); err != nil {
			// Reported by the next read: a callback must not fail the test from its goroutine.
			p.ch <- pushOrError{err: fmt.Errorf("push on %s is not a contracts.Push: %w", subject, err)}
			return
		}
		p.ch <- pushOrError{push: push}
	}); err != nil {
		t.Fatalf("moatest.Kit.Pushes: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("moatest.Kit.Pushes: %v", err)
	}
	return p
}

// Next returns the next push, whatever its topic; none within 20s fails the test.
func (p *Pushes) Next(t testing.TB) contracts.Push {
	t.Helper()
	select {
	case got := <-p.ch:
		if got.err != nil {
			t.Fatalf("moatest: %v", got.err)
		}
		return got.push
	case <-time.After(pushTimeout):
		t.Fatalf("moatest: no push on %s within %s", p.subject, pushTimeout)
		return contracts.Push{}
	}
}

// NextOf returns the next push on topic, skipping pushes of other topics, and decodes its
// body into body unless body is nil.
func (p *Pushes) NextOf(t testing.TB, topic string, body any) contracts.Push {
	t.Helper()
	deadline := time.After(pushTimeout)
	for {
		select {
		case got := <-p.ch:
			if got.err != nil {
				t.Fatalf("moatest: %v", got.err)
			}
			if got.push.Topic != topic {
				continue
			}
			if body != nil {
				if err := json.Unmarshal(got.push.Body, body); err != nil {
					t.Fatalf("moatest: %s push on %s: %v", topic, p.subject, err)
				}
			}
			return got.push
		case <-deadline:
			t.Fatalf("moatest: no %s push on %s within %s", topic, p.subject, pushTimeout)
			return contracts.Push{}
		}
	}
}
