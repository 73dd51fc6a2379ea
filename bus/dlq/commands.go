package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

type tool struct {
	js  jetstream.JetStream
	st  jetstream.Stream
	out io.Writer
	o   opts
}

// Letter is one dead letter, as `ls --json` and `show --json` print it.
type Letter struct {
	Seq        uint64              `json:"seq"`
	Time       string              `json:"time"`
	Stream     string              `json:"stream"`
	Consumer   string              `json:"consumer"`
	Subject    string              `json:"subject"`
	Sequence   string              `json:"stream_sequence"`
	Deliveries string              `json:"deliveries"`
	Code       string              `json:"code"`
	Error      string              `json:"error"`
	Headers    map[string][]string `json:"headers,omitempty"`
	Body       json.RawMessage     `json:"body,omitempty"`
}

func letter(m *jetstream.RawStreamMsg, full bool) Letter {
	h := m.Header
	l := Letter{
		Seq: m.Sequence, Time: h.Get(bus.HeaderDLQTime), Stream: h.Get(bus.HeaderDLQStream),
		Consumer: h.Get(bus.HeaderDLQConsumer), Subject: h.Get(bus.HeaderDLQSubject),
		Sequence: h.Get(bus.HeaderDLQSequence), Deliveries: h.Get(bus.HeaderDLQDeliveries),
		Code: h.Get(bus.HeaderDLQErrorCode), Error: h.Get(bus.HeaderDLQError),
	}
	if full {
		l.Headers = h
		if json.Valid(m.Data) {
			l.Body = m.Data
		} else {
			l.Body, _ = json.Marshal(string(m.Data))
		}
	}
	return l
}

// scan calls fn for each dead letter matching the flags, oldest first, until fn says stop.
func (t *tool) scan(ctx context.Context, fn func(m *jetstream.RawStreamMsg) (more bool, err error)) error {
	filter := t.o.filter()
	for seq := uint64(1); ; {
		m, err := t.st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dlq: read from %d: %w", seq, err)
		}
		more, err := fn(m)
		if err != nil || !more {
			return err
		}
		seq = m.Sequence + 1
	}
}

func (t *tool) get(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	m, err := t.st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, contracts.ErrDeadLetterNotFound.Msg("no dead letter %d", seq)
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: read %d: %w", seq, err)
	}
	return m, nil
}

func (t *tool) ls(ctx context.Context) error {
	var letters []Letter
	truncated := false
	err := t.scan(ctx, func(m *jetstream.RawStreamMsg) (bool, error) {
		if len(letters) == t.o.limit {
			truncated = true
			return false, nil
		}
		letters = append(letters, letter(m, false))
		return true, nil
	})
	if err != nil {
		return err
	}
	if t.o.json {
		return json.NewEncoder(t.out).Encode(letters)
	}
	if len(letters) == 0 {
		_, err := fmt.Fprintln(t.out, "no dead letters")
		return err
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tTIME\tSTREAM\tCONSUMER\tSUBJECT\tDELIVERIES\tCODE\tERROR")
	for _, l := range letters {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Seq, shortTime(l.Time), l.Stream, l.Consumer, l.Subject, l.Deliveries, l.Code, oneLine(l.Error, 80))
	}
	if truncated {
		fmt.Fprintf(w, "(more; use --limit)\n")
	}
	return w.Flush()
}

func (t *tool) show(ctx context.Context, seq uint64) error {
	m, err := t.get(ctx, seq)
	if err != nil {
		return err
	}
	l := letter(m, true)
	if t.o.json {
		return json.NewEncoder(t.out).Encode(l)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dead letter %d (%s)\n", l.Seq, m.Subject)
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, strings.Join(m.Header[k], ", "))
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, m.Data, "  ", "  ") == nil {
		fmt.Fprintf(&b, "body:\n  %s\n", pretty.String())
	} else {
		fmt.Fprintf(&b, "body (%d bytes, not JSON):\n  %q\n", len(m.Data), m.Data)
	}
	_, err = io.WriteString(t.out, b.String())
	return err
}

// each applies fn to the sequences given, or with --all to every dead letter the filter
// matches, and reports how many it did.
func (t *tool) each(ctx context.Context, verb string, fn func(context.Context, *jetstream.RawStreamMsg) error) error {
	if len(t.o.seqs) == 0 && !t.o.all {
		return contracts.ErrValidation.OnField("seq", "%s needs a dead-letter sequence or --all", verb)
	}
	if len(t.o.seqs) > 0 && t.o.all {
		return contracts.ErrValidation.OnField("seq", "%s takes sequences or --all, not both", verb)
	}
	n := 0
	if t.o.all {
		err := t.scan(ctx, func(m *jetstream.RawStreamMsg) (bool, error) {
			if err := fn(ctx, m); err != nil {
				return false, err
			}
			n++
			return true, nil
		})
		fmt.Fprintf(t.out, "%s: %d dead letters\n", pastTense(verb), n)
		return err
	}
	for _, seq := range t.o.seqs {
		m, err := t.get(ctx, seq)
		if err != nil {
			fmt.Fprintf(t.out, "%s: %d dead letters\n", pastTense(verb), n)
			return err
		}
		if err := fn(ctx, m); err != nil {
			fmt.Fprintf(t.out, "%s: %d dead letters\n", pastTense(verb), n)
			return err
		}
		n++
	}
	_, err := fmt.Fprintf(t.out, "%s: %d dead letters\n", pastTense(verb), n)
	return err
}

// ReplayMsg is the message a replay publishes for dead letter m: its original subject, body
// and headers, addressed to the consumer that failed it, with a Nats-Msg-Id of its own. A dead
// letter of the outbox relay (never published) is addressed to every consumer.
func ReplayMsg(m *jetstream.RawStreamMsg) (*nats.Msg, error) {
	subject := m.Header.Get(bus.HeaderDLQSubject)
	consumer := m.Header.Get(bus.HeaderDLQConsumer)
	if subject == "" || consumer == "" {
		return nil, contracts.ErrValidation.Msg("dead letter %d has no %s or %s header: it was not written by the Moa runtime", m.Sequence, bus.HeaderDLQSubject, bus.HeaderDLQConsumer)
	}
	r := nats.NewMsg(subject)
	r.Data = m.Data
	for k, v := range m.Header {
		if !strings.HasPrefix(k, "Moa-Dlq-") && !strings.HasPrefix(k, "Nats-") && !strings.HasPrefix(k, "Moa-Replay-") {
			r.Header[k] = v
		}
	}
	orig := m.Header.Get(bus.HeaderDLQMsgID)
	if orig != "" {
		r.Header.Set(bus.HeaderOriginalMsgID, orig)
	}
	seq := strconv.FormatUint(m.Sequence, 10)
	r.Header.Set(jetstream.MsgIDHeader, "dlq-replay-"+seq+"-"+orig)
	if m.Header.Get(bus.HeaderDLQOutbox) != "" {
		// The outbox relay could not publish the event at all: no consumer has seen it.
		if len(m.Data) == 0 {
			return nil, contracts.ErrValidation.Msg("dead letter %d has no body (it was too large); clear dead_at of row %s in moa_outbox to publish it again", m.Sequence, m.Header.Get(bus.HeaderDLQOutbox))
		}
		r.Header.Set(bus.HeaderReplayOf, seq)
		return r, nil
	}
	r.Header.Set(bus.HeaderReplayFor, consumer)
	r.Header.Set(bus.HeaderReplayOf, seq)
	return r, nil
}

func (t *tool) replay(ctx context.Context, m *jetstream.RawStreamMsg) error {
	r, err := ReplayMsg(m)
	if err != nil {
		return err
	}
	if _, err := t.js.PublishMsg(ctx, r); err != nil {
		return fmt.Errorf("dlq: replay %d to %s: %w", m.Sequence, r.Subject, err)
	}
	if err := t.st.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("dlq: replayed %d but could not delete it (running replay again is safe): %w", m.Sequence, err)
	}
	return nil
}

func (t *tool) purge(ctx context.Context, m *jetstream.RawStreamMsg) error {
	if err := t.st.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("dlq: delete %d: %w", m.Sequence, err)
	}
	return nil
}

func (t *tool) purgeAll(ctx context.Context) error {
	info, err := t.st.Info(ctx)
	if err != nil {
		return err
	}
	if err := t.st.Purge(ctx); err != nil {
		return fmt.Errorf("dlq: purge: %w", err)
	}
	_, err = fmt.Fprintf(t.out, "purged: %d dead letters\n", info.State.Msgs)
	return err
}

func pastTense(verb string) string {
	if verb == "replay" {
		return "replayed"
	}
	return verb + "d"
}

func shortTime(s string) string {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return tm.UTC().Format("2006-01-02 15:04:05")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
