// Package dlq inspects and re-drives Moa's dead letters: `moa dlq ls | show | replay | purge`.
//
// A dead letter is a message some consumer could not handle (a permanent error, MaxDeliver
// failures, or a message that crashed the consumer on every delivery). The runtime stores it in
// the DLQ stream on dlq.<stream>.<consumer> with the original body and headers, plus Moa-Dlq-*
// headers saying where it came from and why it failed (see bus.DeadLetter).
//
// Replay re-publishes a dead letter to its original subject, for the consumer that failed it
// only (header Moa-Replay-For: the stream's other consumers handled the original and ack the
// copy unseen), under a new Nats-Msg-Id so that the stream's duplicate window does not drop
// it. The envelope, and so the event id, is unchanged: an inbox that never committed the event
// runs it, one that did absorbs it. The new id is derived from the dead letter's sequence, so
// re-running an interrupted replay does not publish twice. The dead letter is deleted once the
// stream has acknowledged the copy.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// Usage is the command's help text.
const Usage = `usage: moa dlq <command> [flags]

commands:
  ls                         list dead letters (oldest first)
  show <seq>                 show one dead letter: headers and body
  replay <seq> | --all       re-publish to the original subject for the failed consumer, then delete
  purge <seq> | --all        delete without replaying

flags (ls, replay --all, purge --all):
  --stream S                 only dead letters of stream S ("outbox": events an outbox relay
                             could not publish; their consumer is the relay)
  --consumer C               only dead letters of consumer C
  --limit N                  ls: show at most N (default 100)
  --json                     ls, show: JSON output
`

// Run executes one dlq command against the server nc is connected to, writing to stdout.
// Usage errors are contracts.ErrValidation; an unknown sequence is contracts.ErrDeadLetterNotFound.
func Run(ctx context.Context, nc *nats.Conn, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		_, err := io.WriteString(stdout, Usage)
		return err
	}
	o, err := parse(args[1:])
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	st, err := js.Stream(ctx, contracts.StreamDeadLetter.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return contracts.ErrNotFound.Msg("there is no dead-letter stream %s on this server (nothing was ever dead-lettered, or no service has started)", contracts.StreamDeadLetter.Name)
	}
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	t := &tool{js: js, st: st, out: stdout, o: o}
	switch args[0] {
	case "ls", "list":
		return t.ls(ctx)
	case "show":
		seq, err := o.one("show")
		if err != nil {
			return err
		}
		return t.show(ctx, seq)
	case "replay":
		return t.each(ctx, "replay", t.replay)
	case "purge":
		if o.all && o.stream == "" && o.consumer == "" {
			return t.purgeAll(ctx)
		}
		return t.each(ctx, "purge", t.purge)
	}
	return contracts.ErrValidation.Msg("unknown dlq command %q\n%s", args[0], Usage)
}

// opts are the parsed flags and arguments.
type opts struct {
	seqs     []uint64
	all      bool
	stream   string
	consumer string
	limit    int
	json     bool
}

func parse(args []string) (opts, error) {
	o := opts{limit: 100}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", contracts.ErrValidation.OnField(name, "--%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case !strings.HasPrefix(a, "-"):
			seq, perr := strconv.ParseUint(a, 10, 64)
			if perr != nil || seq == 0 {
				return o, contracts.ErrValidation.OnField("seq", "%q is not a dead-letter sequence number", a)
			}
			o.seqs = append(o.seqs, seq)
		case name == "all":
			o.all = true
		case name == "json":
			o.json = true
		case name == "stream":
			o.stream, err = value()
		case name == "consumer":
			o.consumer, err = value()
		case name == "limit":
			var v string
			if v, err = value(); err == nil {
				o.limit, err = strconv.Atoi(v)
				if err != nil || o.limit <= 0 {
					return o, contracts.ErrValidation.OnField("limit", "--limit needs a positive number, not %q", v)
				}
			}
		default:
			return o, contracts.ErrValidation.OnField(name, "unknown flag %s\n%s", a, Usage)
		}
		if err != nil {
			return o, err
		}
	}
	for _, v := range []struct{ field, val string }{{"stream", o.stream}, {"consumer", o.consumer}} {
		if v.val != "" {
			if _, err := contracts.Token(v.field, v.val); err != nil {
				return o, err
			}
		}
	}
	return o, nil
}

// one returns the single sequence a command needs.
func (o opts) one(cmd string) (uint64, error) {
	if len(o.seqs) != 1 || o.all {
		return 0, contracts.ErrValidation.OnField("seq", "%s needs exactly one dead-letter sequence", cmd)
	}
	return o.seqs[0], nil
}

// filter is the dead-letter subject filter for --stream and --consumer.
func (o opts) filter() string {
	stream, consumer := o.stream, o.consumer
	if stream == "" {
		stream = "*"
	}
	if consumer == "" {
		consumer = "*"
	}
	return contracts.Join("dlq", stream, consumer)
}
