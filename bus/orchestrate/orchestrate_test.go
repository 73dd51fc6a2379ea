package orchestrate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/bus/orchestrate"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestHappyPathCompletes(t *testing.T) {
	e := setup(t)
	o := e.start(t, planSaga(2*time.Second), testOptions())
	if err := o.Begin(ctxT(t, 10*time.Second), "o1", plan{Order: "o1"}); err != nil {
		t.Fatal(err)
	}
	st := wait(t, o, "o1")
	if st.Phase != orchestrate.Completed || st.Err != nil || st.Step != "" {
		t.Fatalf("status = %+v, want completed without error", st)
	}
	// Each step recorded its participant's reply, and the state was persisted with it.
	if st.State.Seat == "" || st.State.Charge == "" || st.State.Switch == "" {
		t.Fatalf("state = %+v, want every step's reference recorded", st.State)
	}
	if got, want := e.led.sequence("plan_test", "o1"), []string{"reserve", "charge", "switch"}; !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	for _, s := range []string{"reserve", "charge", "switch"} {
		if d := e.led.deliveriesOf(key("o1", s)); d != 1 {
			t.Errorf("step %s delivered %d times, want 1", s, d)
		}
	}
}

func TestStepFailureCompensatesInReverse(t *testing.T) {
	e := setup(t)
	e.led.set(func(l *ledger) { l.fail["switch"] = contracts.ErrConflict.Msg("the new plan is not on sale") })
	o := e.start(t, planSaga(2*time.Second), testOptions())
	if err := o.Begin(ctxT(t, 10*time.Second), "o2", plan{Order: "o2"}); err != nil {
		t.Fatal(err)
	}
	st := wait(t, o, "o2")
	if st.Phase != orchestrate.Compensated {
		t.Fatalf("phase = %s, want compensated (%+v)", st.Phase, st)
	}
	if !errors.Is(st.Err, contracts.ErrConflict) || !strings.Contains(st.Err.Message, "not on sale") {
		t.Fatalf("err = %v, want the step's conflict", st.Err)
	}
	// switch said no (a definite refusal), so it is not undone; the others are, newest first.
	want := []string{"reserve", "charge", "switch", "refund", "unreserve"}
	if got := e.led.sequence("plan_test", "o2"); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	// The compensations got what the steps recorded, under their own keys.
	refund := e.led.callsTo("refund")
	if len(refund) != 1 || refund[0].ref != st.State.Charge || refund[0].key != ckey("o2", "charge") || st.State.Charge == "" {
		t.Fatalf("refund calls = %+v, want one for charge %q under %s", refund, st.State.Charge, ckey("o2", "charge"))
	}
	if un := e.led.callsTo("unreserve"); len(un) != 1 || un[0].ref != st.State.Seat {
		t.Fatalf("unreserve calls = %+v, want one for seat %q", un, st.State.Seat)
	}
}

func TestStepTimeoutCompensates(t *testing.T) {
	e := setup(t)
	// charge applies its effect and never answers: the orchestrator cannot know it happened.
	e.led.set(func(l *ledger) { l.hang["charge"] = true })
	o := e.start(t, planSaga(500*time.Millisecond), testOptions())
	start := time.Now()
	if err := o.Begin(ctxT(t, 10*time.Second), "o3", plan{Order: "o3"}); err != nil {
		t.Fatal(err)
	}
	st := wait(t, o, "o3")
	if st.Phase != orchestrate.Compensated || !errors.Is(st.Err, contracts.ErrTimeout) {
		t.Fatalf("status = %+v, want compensated after deadline_exceeded", st)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %v: the step's 500 ms timeout did not bound it", el)
	}
	// The outcome of charge is unknown, so it is refunded too, then the seat released.
	want := []string{"reserve", "charge", "refund", "unreserve"}
	if got := e.led.sequence("plan_test", "o3"); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if e.led.effectsOf(key("o3", "charge")) != 1 {
		t.Fatal("the hung charge was not applied: the test proves nothing")
	}
}

func TestCompensationFailureStaysFailed(t *testing.T) {
	e := setup(t)
	e.led.set(func(l *ledger) {
		l.fail["switch"] = contracts.ErrPaymentDeclined.Msg("declined")
		l.fail["refund"] = contracts.ErrUnavailable.Msg("the bank is down")
	})
	o := e.start(t, planSaga(time.Second), testOptions())
	if err := o.Begin(ctxT(t, 10*time.Second), "o4", plan{Order: "o4"}); err != nil {
		t.Fatal(err)
	}
	st := wait(t, o, "o4")
	if st.Phase != orchestrate.Failed || st.Step != "charge" {
		t.Fatalf("status = %+v, want failed on charge's compensation", st)
	}
	if !errors.Is(st.Err, contracts.ErrPaymentDeclined) || !strings.Contains(st.Failure, "charge") || !strings.Contains(st.Failure, "bank is down") {
		t.Fatalf("err = %v, failure = %q: want the step's error and the compensation's reason", st.Err, st.Failure)
	}
	if n := e.led.deliveriesOf(ckey("o4", "charge")); n < 3 {
		t.Fatalf("refund tried %d times, want at least the 3 attempts", n)
	}
	// Compensation stops at the failure: the seat is left for the operator, not released.
	if n := len(e.led.callsTo("unreserve")); n != 0 {
		t.Fatalf("unreserve called %d times after refund failed", n)
	}
	// And the failed saga stays failed: nobody picks it up again.
	before := e.led.deliveriesOf(ckey("o4", "charge"))
	o2 := e.start(t, planSaga(time.Second), testOptions())
	if err := o2.Begin(ctxT(t, 10*time.Second), "probe", plan{Order: "probe"}); err != nil {
		t.Fatal(err)
	}
	wait(t, o2, "probe")
	if after := e.led.deliveriesOf(ckey("o4", "charge")); after != before {
		t.Fatalf("a failed saga was driven again: refund deliveries %d -> %d", before, after)
	}

	// The operator fixes the bank and resumes: compensation carries on where it failed.
	moatest.WantError(t, o.Resume(ctxT(t, 10*time.Second), "nope"), contracts.ErrNotFound, "")
	e.led.set(func(l *ledger) { delete(l.fail, "refund") })
	if err := o.Resume(ctxT(t, 10*time.Second), "o4"); err != nil {
		t.Fatal(err)
	}
	st = wait(t, o, "o4")
	if st.Phase != orchestrate.Compensated || st.Failure != "" || !errors.Is(st.Err, contracts.ErrPaymentDeclined) {
		t.Fatalf("after Resume: %+v, want compensated, the step's error kept", st)
	}
	if e.led.effectsOf(ckey("o4", "charge")) != 1 || e.led.effectsOf(ckey("o4", "reserve")) != 1 {
		t.Fatal("after Resume: want the refund and the seat release applied once each")
	}
	moatest.WantError(t, o.Resume(ctxT(t, 10*time.Second), "o4"), contracts.ErrIllegalTransition, "")
}

func TestCrashMidSagaResumes(t *testing.T) {
	e := setup(t)
	// switch applies its effect and its reply is lost, as if the orchestrator died mid-call.
	e.led.set(func(l *ledger) { l.hang["switch"] = true })
	def := planSaga(time.Second)
	optsA := testOptions()
	optsA.Owner = "a"
	a, err := orchestrate.New(e.pool, e.rt.NewClient("orchestrator-a"), def, optsA)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Crash)
	if err := a.Begin(ctxT(t, 10*time.Second), "o5", plan{Order: "o5"}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return e.led.deliveriesOf(key("o5", "switch")) == 1 }, "switch called")
	st, err := a.Get(ctxT(t, 10*time.Second), "o5")
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != orchestrate.Running || st.Step != "switch" || st.State.Charge == "" || st.Owner != "a" {
		t.Fatalf("before the crash: %+v, want step 2 persisted and switch next", st)
	}
	a.Crash()

	b := e.start(t, def, testOptions())
	st = wait(t, b, "o5")
	if st.Phase != orchestrate.Completed || st.Owner == "a" {
		t.Fatalf("after the crash: %+v, want completed by the new instance", st)
	}
	// b resumed at switch: the persisted steps were not repeated, switch was (its reply was
	// lost), and every key's effect happened once.
	for s, want := range map[string]int{"reserve": 1, "charge": 1, "switch": 2} {
		if got := e.led.deliveriesOf(key("o5", s)); got != want {
			t.Errorf("%s delivered %d times, want %d", s, got, want)
		}
		if got := e.led.effectsOf(key("o5", s)); got != 1 {
			t.Errorf("%s applied %d times, want 1", s, got)
		}
	}
	if st.State.Switch != "switch-3" {
		t.Errorf("switch ref = %q, want the first (and only) effect's, switch-3", st.State.Switch)
	}
}

func TestTwoInstancesDriveEachSagaOnce(t *testing.T) {
	e := setup(t)
	def := planSaga(5 * time.Second)
	// The sagas wait in the table before either instance starts, so both claim from the same
	// rows at once: SKIP LOCKED and the lease must split them. Each drives at most 10 at once,
	// and reserve answers only once 20 calls are in flight: the sagas finish only if both
	// instances drive 10 each, concurrently.
	e.led.hold("reserve", 20)
	opts := func(owner string) orchestrate.Options {
		o := testOptions()
		o.Owner, o.MaxConcurrent = owner, 10
		return o
	}
	begin, err := orchestrate.New(e.pool, e.rt.Client(), def, testOptions()) // never started
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if err := begin.Begin(ctxT(t, 10*time.Second), fmt.Sprintf("s%d", i), plan{Order: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	a := e.start(t, def, opts("a"))
	e.start(t, def, opts("b"))
	drove := map[string]int{}
	for i := range n {
		id := fmt.Sprintf("s%d", i)
		st := wait(t, a, id)
		if st.Phase != orchestrate.Completed {
			t.Fatalf("saga %s: %+v", id, st)
		}
		drove[st.Owner]++
		for _, s := range []string{"reserve", "charge", "switch"} {
			if d := e.led.deliveriesOf(key(id, s)); d != 1 {
				t.Errorf("saga %s step %s delivered %d times, want 1: two drivers", id, s, d)
			}
		}
	}
	t.Logf("finished by: %v", drove)
	if drove["a"] != n/2 || drove["b"] != n/2 {
		t.Fatalf("finished by %v, want each instance driving %d", drove, n/2)
	}
}

func TestBeginAndGetContract(t *testing.T) {
	e := setup(t)
	o := e.start(t, planSaga(2*time.Second), testOptions())
	ctx := ctxT(t, 30*time.Second)
	for _, id := range []string{"", "a:b", "a b", strings.Repeat("x", 129)} {
		moatest.WantError(t, o.Begin(ctx, id, plan{}), contracts.ErrValidation, "id", "Begin(%q)", id)
	}
	_, err := o.Get(ctx, "nope")
	moatest.WantError(t, err, contracts.ErrNotFound, "")
	// Begin is idempotent: the second changes nothing, the saga runs once.
	for range 2 {
		if err := o.Begin(ctx, "dup", plan{Order: "dup"}); err != nil {
			t.Fatal(err)
		}
	}
	if st := wait(t, o, "dup"); st.Phase != orchestrate.Completed {
		t.Fatalf("status = %+v", st)
	}
	if err := o.Begin(ctx, "dup", plan{Order: "again"}); err != nil {
		t.Fatal(err)
	}
	if d := e.led.deliveriesOf(key("dup", "reserve")); d != 1 {
		t.Fatalf("reserve delivered %d times after three Begins, want 1", d)
	}
	// A bad definition is refused at New.
	bad := []orchestrate.Saga[plan]{
		{Name: "Bad", Steps: planSaga(time.Second).Steps},
		{Name: "empty"},
		{Name: "dup", Steps: append(planSaga(time.Second).Steps, planSaga(time.Second).Steps[0])},
		{Name: "nodo", Steps: []orchestrate.Step[plan]{{Name: "x"}}},
	}
	for _, d := range bad {
		if _, err := orchestrate.New(e.pool, e.rt.Client(), d, testOptions()); err == nil {
			t.Errorf("New accepted %s", d.Name)
		}
	}
}

func TestStopHandsOverAtOnce(t *testing.T) {
	e := setup(t)
	e.led.set(func(l *ledger) { l.hang["charge"] = true })
	// A long step timeout: were the lease not released by Stop, b would wait it out.
	def := planSaga(20 * time.Second)
	a, err := orchestrate.New(e.pool, e.rt.NewClient("orchestrator-a"), def, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Begin(ctxT(t, 10*time.Second), "o6", plan{Order: "o6"}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return e.led.deliveriesOf(key("o6", "charge")) == 1 }, "charge called")
	stopped := time.Now()
	if err := a.Stop(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The call in flight was abandoned, not recorded as a failure.
	if st, err := a.Get(ctxT(t, 10*time.Second), "o6"); err != nil || st.Phase != orchestrate.Running || st.Step != "charge" {
		t.Fatalf("after Stop: %+v, %v; want still running at charge", st, err)
	}
	b := e.start(t, def, testOptions())
	st := wait(t, b, "o6")
	if st.Phase != orchestrate.Completed {
		t.Fatalf("status = %+v, want completed", st)
	}
	t.Logf("taken over %v after Stop", time.Since(stopped).Round(time.Millisecond))
	if el := time.Since(stopped); el > 5*time.Second {
		t.Fatalf("b took over after %v: Stop kept the lease", el)
	}
	if d, n := e.led.deliveriesOf(key("o6", "charge")), e.led.effectsOf(key("o6", "charge")); d != 2 || n != 1 {
		t.Fatalf("charge delivered %d times, applied %d; want 2 and 1", d, n)
	}
}

// Rows a definition cannot drive (a state that no longer decodes, a step the definition lost)
// end Failed with the reason, for an operator; they never panic or loop.
func TestUndrivableRowsFail(t *testing.T) {
	e := setup(t)
	ctx := ctxT(t, 30*time.Second)
	_, err := e.pool.Exec(ctx, `INSERT INTO moa_saga (saga, id, status, step, state) VALUES
		('plan_test', 'badstate', 'running', 0, '{"order": 5}'),
		('plan_test', 'badstep', 'compensating', 7, '{"order": "x"}')`)
	if err != nil {
		t.Fatal(err)
	}
	o := e.start(t, planSaga(time.Second), testOptions())
	for id, want := range map[string]string{"badstate": "does not decode", "badstep": "at step 7"} {
		var phase, failure string
		moatest.Eventually(t, 10*time.Second, func() bool {
			err := e.pool.QueryRow(ctx, `SELECT status, coalesce(failure, '') FROM moa_saga
				WHERE saga = 'plan_test' AND id = $1`, id).Scan(&phase, &failure)
			return err == nil && phase == string(orchestrate.Failed)
		}, id+" failed")
		if !strings.Contains(failure, want) {
			t.Fatalf("%s: failure %q, want %q", id, failure, want)
		}
	}
	// Get reports a state it cannot decode with a stable code, not a panic or a zero state.
	_, err = o.Get(ctx, "badstate")
	moatest.WantError(t, err, contracts.ErrInternal, "")
	if n := len(e.led.sequence("plan_test", "badstep")); n != 0 {
		t.Fatalf("badstep made %d calls", n)
	}
}
