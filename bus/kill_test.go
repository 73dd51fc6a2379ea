package bus_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/moatest"
)

// The restart in the fault suite is a graceful shutdown, which flushes the store. Here the
// nats-server runs in its own process and dies by SIGKILL while four publishers are mid-flight:
// every event whose publish was acknowledged must be in the stream once the server is back
// on the same store. MOA_KILL_NO_SYNC=1 runs it without sync_interval: always: it passes too,
// because nats-server writes each message to its block file before acking it and a killed
// process leaves its writes in the OS page cache; what sync always adds is survival of an OS
// crash or power loss, which no test here can inflict. So this is a regression test of the
// server's write-before-ack (and of the store surviving a kill), not of fsync.
func TestKilledServerKeepsAckedEvents(t *testing.T) {
	var opts []moatest.Option
	if os.Getenv("MOA_KILL_NO_SYNC") == "" {
		opts = append(opts, moatest.WithSyncAlways())
	}
	srv := moatest.NATSProc(t, opts...)
	js, err := jetstream.New(srv.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KILL", Subjects: []string{"kill.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}

	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		failed atomic.Int64 // publishes refused or unanswered: the kill landed mid-flight
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("p%d-%d", g, i)
				pctx, pcancel := context.WithTimeout(ctx, time.Second)
				_, err := js.Publish(pctx, "kill."+id, []byte(id), jetstream.WithMsgID(id))
				pcancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	moatest.Eventually(t, time.Minute, func() bool { return count() >= 400 }, "400 publishes acknowledged")
	srv.Kill() // kill -9 with publishes in flight
	killedAt := count()
	moatest.Eventually(t, 30*time.Second, func() bool { return failed.Load() > 0 }, "a publish failed after the kill")
	close(stop)
	wg.Wait()

	srv.Start() // same port, same store
	var stored map[string]bool
	moatest.WaitFor(t, time.Minute, func() error {
		var err error
		stored, err = readAll(ctx, js, "KILL")
		return err
	})
	var lost []string
	for id := range acked {
		if !stored[id] {
			lost = append(lost, id)
		}
	}
	t.Logf("acked at kill=%d acked in all=%d failed publishes=%d in stream after restart=%d lost=%d",
		killedAt, len(acked), failed.Load(), len(stored), len(lost))
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged events are not in the stream after kill -9 and restart, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
}

// readAll returns the payloads of every message in the stream.
func readAll(ctx context.Context, js jetstream.JetStream, stream string) (map[string]bool, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			if err == jetstream.ErrMsgNotFound {
				continue
			}
			return nil, err
		}
		out[string(m.Data)] = true
	}
	return out, nil
}
