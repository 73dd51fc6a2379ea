package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/moatest"
)

// On a cluster the relay chains rows bound for an R1 stream and not those bound for a
// replicated one, and the reason holds: one publish whose Nats-Expected-Last-Msg-Id does not
// match makes a replicated stream stop acknowledging every publish after it (nats-server
// 2.15.2). If that part fails, the server no longer wedges, and chaining replicated streams
// may come back (see streamIndex).
func TestChainOnlyUnreplicatedStreams(t *testing.T) {
	cl := moatest.NATSCluster(t, 3)
	js, err := jetstream.New(cl.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "CHAIN_R3", Subjects: []string{"evt.chainr3.>"}, Replicas: 3, Duplicates: time.Minute},
		{Name: "CHAIN_R1", Subjects: []string{"evt.chainr1.>"}, Replicas: 1, Duplicates: time.Minute},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	var x streamIndex
	if got := x.of(ctx, js, "evt.chainr1.thing.k"); got != "CHAIN_R1" {
		t.Errorf("R1 stream: of = %q, want CHAIN_R1 (chained)", got)
	}
	if got := x.of(ctx, js, "evt.chainr3.thing.k"); got != "" {
		t.Errorf("R3 stream: of = %q, want \"\" (not chained)", got)
	}

	publish := func(id, expected string) error {
		m := nats.NewMsg("evt.chainr3.thing.k")
		m.Header.Set(nats.MsgIdHdr, id)
		if expected != "" {
			m.Header.Set(expectedLastMsgID, expected)
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		_, err := js.PublishMsg(pctx, m)
		return err
	}
	if err := publish("a", ""); err != nil {
		t.Fatal(err)
	}
	if err := publish("b", "a"); err != nil {
		t.Fatalf("chained publish on R3: %v", err)
	}
	if err := publish("c", "not-b"); !brokenChain(err) {
		t.Fatalf("mismatching publish on R3: %v, want wrong last msg ID", err)
	}
	if err := publish("d", ""); err == nil {
		t.Errorf("a replicated stream acked a publish after a chain mismatch: nats-server no longer wedges, " +
			"and the relay may chain replicated streams again (see streamIndex)")
	}
}
