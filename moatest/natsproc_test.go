package moatest_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/moatest"
)

// NATSProc's server is another process: SIGKILL ends it (its clients disconnect), and Start
// brings it back on the same port and store, where the stream still is.
func TestNATSProcSurvivesKill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := moatest.NATSProc(t, moatest.WithSyncAlways())
	nc := srv.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "events.one", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	url := srv.URL()
	srv.Kill()
	moatest.Eventually(t, 10*time.Second, func() bool { return !nc.IsConnected() }, "client saw the server die")
	if _, err := os.Stat(filepath.Join(srv.StoreDir(), "jetstream")); err != nil {
		t.Fatalf("store after kill: %v", err)
	}
	srv.Start()
	if srv.URL() != url {
		t.Fatalf("URL changed across restart: %s -> %s", url, srv.URL())
	}
	var msg *jetstream.RawStreamMsg
	moatest.WaitFor(t, 10*time.Second, func() error {
		msg, err = stream.GetMsg(ctx, 1)
		return err
	})
	if string(msg.Data) != "hello" {
		t.Fatalf("message after kill and start = %q", msg.Data)
	}
}
