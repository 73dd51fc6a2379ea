package bus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// The consumer tests' stream and event.
var mbStream = contracts.StreamSpec{
	Name: "MAILBOX", Subjects: []string{"evt.mbtest.>"}, Storage: contracts.FileStorage,
	Replicas: 1, MaxAge: time.Hour, Duplicates: time.Minute, Critical: true,
}

type mbData struct {
	N int `json:"n"`
}

var mbEvent = contracts.Event[mbData]{Stream: mbStream, Domain: "mbtest", Name: "step", Version: 1}

// mbRuntime is a runtime on a fresh embedded server, with the test stream and the dead-letter
// stream in place.
func mbRuntime(t *testing.T) (*bus.Runtime, *moatest.NATSServer) {
	t.Helper()
	srv := moatest.NATS(t)
	return mbRuntimeOn(t, srv.Conn(t)), srv
}

func mbRuntimeOn(t *testing.T, nc *nats.Conn) *bus.Runtime {
	t.Helper()
	rt, err := bus.New(nc, bus.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	if err := rt.EnsureStreams(mbCtx(t), mbStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	return rt
}

func mbCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mbEmit(t *testing.T, rt *bus.Runtime, key string, n int) contracts.Envelope {
	t.Helper()
	env, err := bus.Emit(mbCtx(t), rt, "test", mbEvent, key, mbData{N: n})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// mbDeadLetters returns the dead letters of durable on the test stream, oldest first.
func mbDeadLetters(t *testing.T, js jetstream.JetStream, durable string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := mbCtx(t)
	st, err := js.Stream(ctx, contracts.StreamDeadLetter.Name)
	if err != nil {
		t.Fatal(err)
	}
	subj := bus.DeadLetterSubject(mbStream.Name, durable)
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

func mbConsumerInfo(t *testing.T, js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(mbCtx(t), mbStream.Name, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(mbCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// mbLog records what handlers saw, per key.
type mbLog struct {
	mu       sync.Mutex
	byKey    map[string][]int
	running  map[string]int
	overlap  int // times a key had two handlers running at once
	inFlight int
	peak     int
}

func newMBLog() *mbLog { return &mbLog{byKey: map[string][]int{}, running: map[string]int{}} }

func (l *mbLog) enter(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[key]++
	if l.running[key] > 1 {
		l.overlap++
	}
	l.inFlight++
	l.peak = max(l.peak, l.inFlight)
}

func (l *mbLog) leave(key string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[key]--
	l.inFlight--
	l.byKey[key] = append(l.byKey[key], n)
}

func (l *mbLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.byKey {
		n += len(v)
	}
	return n
}

func (l *mbLog) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey[key])
}
