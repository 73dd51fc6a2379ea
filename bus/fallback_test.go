package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

func TestLastGoodServesTheLastReplyPerRequest(t *testing.T) {
	lg := bus.NewLastGood(2, time.Hour)
	req := func(body string) *bus.Request {
		return &bus.Request{Endpoint: contracts.EndpointInfo{Subject: "catalog.v1.list"}, Data: []byte(body)}
	}
	down := contracts.ErrNoResponders
	if _, err := lg.Fallback(context.Background(), req(`{"page":1}`), down); !errors.Is(err, down) {
		t.Fatalf("empty cache: want the original error, got %v", err)
	}
	lg.Remember(req(`{"page":1}`), &bus.Reply{Data: []byte(`["p1-old"]`)})
	lg.Remember(req(`{"page":1}`), &bus.Reply{Data: []byte(`["p1"]`)})
	lg.Remember(req(`{"page":2}`), &bus.Reply{Data: []byte(`["p2"]`)})
	rep, err := lg.Fallback(context.Background(), req(`{"page":1}`), down)
	if err != nil || string(rep.Data) != `["p1"]` {
		t.Fatalf("page 1: %v %v", rep, err)
	}
	// Bounded: a third request evicts the least recently used (page 2; page 1 was just served).
	lg.Remember(req(`{"page":3}`), &bus.Reply{Data: []byte(`["p3"]`)})
	if _, err := lg.Fallback(context.Background(), req(`{"page":2}`), down); err == nil {
		t.Fatal("page 2 should have been evicted")
	}
	if _, err := lg.Fallback(context.Background(), req(`{"page":3}`), down); err != nil {
		t.Fatalf("page 3: %v", err)
	}
	// Too old is not served.
	stale := bus.NewLastGood(2, time.Nanosecond)
	stale.Remember(req(`{}`), &bus.Reply{Data: []byte(`[]`)})
	time.Sleep(time.Millisecond) // let the entry age past 1 ns
	if _, err := stale.Fallback(context.Background(), req(`{}`), down); err == nil {
		t.Fatal("an entry older than maxAge was served")
	}
}
