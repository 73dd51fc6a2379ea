package dlq_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/dlq"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestListAndShow(t *testing.T) {
	f := newFixture(t)
	f.deadLettered(6)
	out, err := f.run("ls")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SEQ", "billing", "evt.dlqtest.placed.o1", "evt.dlqtest.placed.o5", "internal", "card processor rejected order 3"} {
		if !strings.Contains(out, want) {
			t.Fatalf("ls output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("moa dlq ls:\n%s", out)
	ls := f.letters()
	if len(ls) != 3 || ls[0].Subject != "evt.dlqtest.placed.o1" || ls[0].Consumer != "billing" || ls[0].Stream != stream.Name || ls[0].Deliveries != "1" {
		t.Fatalf("ls --json: %+v", ls)
	}
	if got := f.letters("--limit", "2"); len(got) != 2 {
		t.Fatalf("--limit 2 listed %d", len(got))
	}
	if got := f.letters("--consumer", "mailer"); len(got) != 0 {
		t.Fatalf("mailer has %d dead letters, want 0", len(got))
	}

	out, err = f.run("show", strconv.FormatUint(ls[1].Seq, 10))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{bus.HeaderDLQError, "card processor rejected order 3", `"n": 3`, f.envs[3].ID} {
		if !strings.Contains(out, want) {
			t.Fatalf("show output lacks %q:\n%s", want, out)
		}
	}
	if _, err := f.run("show", "999"); !errors.Is(err, contracts.ErrDeadLetterNotFound) {
		t.Fatalf("show 999: %v, want %s", err, contracts.ErrDeadLetterNotFound.Code)
	}
}

// Replay re-drives a dead letter to the consumer that failed it, and only to it.
func TestReplayRedrivesToTheFailedConsumerOnly(t *testing.T) {
	f := newFixture(t)
	f.deadLettered(4)
	f.fixed.Store(true) // the bug is fixed and deployed
	ls := f.letters()
	out, err := f.run("replay", strconv.FormatUint(ls[0].Seq, 10))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "replayed: 1") {
		t.Fatalf("replay output %q", out)
	}
	id := f.envs[1].ID
	moatest.Eventually(t, 20*time.Second, func() bool { return f.runs("billing", id) == 1 }, "billing handled the replay")
	left := f.letters()
	if len(left) != 1 || left[0].Seq != ls[1].Seq {
		t.Fatalf("after replay, dead letters %+v, want only %d", left, ls[1].Seq)
	}
	// The mailer handled the original; the replay was not for it.
	moatest.Eventually(t, 10*time.Second, func() bool { return settled(t, f, "mailer") }, "mailer settled")
	if n := f.runs("mailer", id); n != 1 {
		t.Fatalf("mailer ran %d times for the replayed event, want 1", n)
	}
}

func settled(t *testing.T, f *fixture, durable string) bool {
	c, err := f.rt.JetStream().Consumer(f.ctx(), stream.Name, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(f.ctx())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

func TestReplayAllForOneConsumer(t *testing.T) {
	f := newFixture(t)
	f.deadLettered(6)
	// A dead letter of another consumer, which --consumer billing must leave alone.
	other := bus.DeadLetter(stream.Name, "mailer", "evt.dlqtest.placed.x", 99, nil, []byte(`{}`), 1, errors.New("x"))
	if _, err := f.rt.JetStream().PublishMsg(f.ctx(), other); err != nil {
		t.Fatal(err)
	}
	f.fixed.Store(true)
	out, err := f.run("replay", "--all", "--consumer", "billing")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "replayed: 3") {
		t.Fatalf("replay output %q", out)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return f.total("billing") == 6 }, "billing handled all six")
	for _, i := range []int{1, 3, 5} {
		if n := f.runs("billing", f.envs[i].ID); n != 1 {
			t.Fatalf("order %d handled %d times by billing", i, n)
		}
	}
	left := f.letters()
	if len(left) != 1 || left[0].Consumer != "mailer" {
		t.Fatalf("left %+v, want the mailer's dead letter", left)
	}
}

// An interrupted replay (published, not yet deleted) run again does not publish twice.
func TestReplayIsSafeToRunAgain(t *testing.T) {
	f := newFixture(t)
	f.deadLettered(2)
	f.fixed.Store(true)
	ls := f.letters()
	st, err := f.rt.JetStream().Stream(f.ctx(), contracts.StreamDeadLetter.Name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(f.ctx(), ls[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	first, err := dlq.ReplayMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.rt.JetStream().PublishMsg(f.ctx(), first); err != nil { // the replay that "crashed" before deleting
		t.Fatal(err)
	}
	if _, err := f.run("replay", strconv.FormatUint(ls[0].Seq, 10)); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return settled(t, f, "billing") && f.runs("billing", f.envs[1].ID) == 1 }, "replayed once")
	info, err := f.rt.JetStream().Stream(f.ctx(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := info.CachedInfo().State.Msgs; msgs != 3 { // two orders and one replay
		t.Fatalf("stream holds %d messages, want 3 (the second replay deduplicated)", msgs)
	}
}

func TestPurge(t *testing.T) {
	f := newFixture(t)
	f.deadLettered(6)
	ls := f.letters()
	if _, err := f.run("purge", strconv.FormatUint(ls[0].Seq, 10)); err != nil {
		t.Fatal(err)
	}
	if got := len(f.letters()); got != 2 {
		t.Fatalf("%d left after purging one, want 2", got)
	}
	out, err := f.run("purge", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "purged: 2") || len(f.letters()) != 0 {
		t.Fatalf("purge --all: %q, %d left", out, len(f.letters()))
	}
	if f.total("billing") != 3 {
		t.Fatal("purge replayed something")
	}
}

func TestUsageErrors(t *testing.T) {
	f := newFixture(t)
	out, err := f.run()
	if err != nil || !strings.Contains(out, "usage: moa dlq") {
		t.Fatalf("no args: %q, %v", out, err)
	}
	for _, args := range [][]string{
		{"frobnicate"},
		{"show"},
		{"show", "abc"},
		{"show", "1", "2"},
		{"replay"},
		{"replay", "1", "--all"},
		{"purge"},
		{"ls", "--limit", "0"},
		{"ls", "--bogus"},
		{"ls", "--consumer"},
		{"ls", "--consumer", "a.b"},
	} {
		if _, err := f.run(args...); !errors.Is(err, contracts.ErrValidation) && !errors.Is(err, contracts.ErrInvalidSubject) {
			t.Errorf("%v: got %v, want a validation error", args, err)
		}
	}
}

func TestNoDeadLetterStream(t *testing.T) {
	nc := moatest.NATS(t).Conn(t)
	var out bytes.Buffer
	err := dlq.Run(context.Background(), nc, []string{"ls"}, &out)
	if !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("got %v, want %s", err, contracts.ErrNotFound.Code)
	}
}
