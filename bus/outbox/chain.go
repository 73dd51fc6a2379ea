package outbox

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamIndex says which stream stores a subject, so that a batch can chain each row to the
// previous row of the same stream (Nats-Expected-Last-Msg-Id; see Relay.publish). It is read
// from the server's stream list and re-read, at most every refreshEvery, when a subject
// matches no stream or a chain broke. Only the relay's run goroutine uses it.
//
// Rows bound for a replicated stream (Replicas > 1) are not chained. A clustered stream checks
// Nats-Expected-Last-Msg-Id only when it applies the committed message, not before proposing
// it, and on nats-server 2.15.2 a mismatch there (a chain broken by a leader change: the new
// leader applies the old term's uncommitted rows, then the relay's re-published ones chained
// to an earlier row) fails the apply: the stream answers that publish "wrong last msg ID" and
// then acknowledges nothing more, from any publisher, until its replicas reset (measured: a
// stream wedged for as long as its killed leader stayed down, 90 s; a plain publish after one
// mismatching publish gets no PubAck on a healthy R3 stream). Unchained, a batch interrupted
// by a failover can have later rows stored before an earlier one that is re-published in the
// next batch; consumers still apply each key's events in order, by their key versions (see
// keyorder.go), and the stream's duplicate window drops the re-published rows it has.
type streamIndex struct {
	streams []streamSubjects
	loaded  time.Time
	stale   bool
}

type streamSubjects struct {
	name     string
	subjects [][]string // tokenised filters
	// replicated streams are not chained (see streamIndex).
	replicated bool
}

const refreshEvery = 5 * time.Second

// of returns the stream that stores subject, or "" when none is known or it is replicated
// (the row is then published without a chain).
func (x *streamIndex) of(ctx context.Context, js jetstream.JetStream, subject string) string {
	tokens := strings.Split(subject, ".")
	s := x.match(tokens)
	if (s == nil || x.stale) && time.Since(x.loaded) >= refreshEvery {
		x.load(ctx, js)
		s = x.match(tokens)
	}
	if s == nil || s.replicated {
		return ""
	}
	return s.name
}

func (x *streamIndex) match(tokens []string) *streamSubjects {
	for i, s := range x.streams {
		for _, f := range s.subjects {
			if subjectMatches(f, tokens) {
				return &x.streams[i]
			}
		}
	}
	return nil
}

func (x *streamIndex) load(ctx context.Context, js jetstream.JetStream) {
	x.loaded, x.stale = time.Now(), false
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var streams []streamSubjects
	list := js.ListStreams(ctx)
	for info := range list.Info() {
		s := streamSubjects{name: info.Config.Name, replicated: info.Config.Replicas > 1}
		for _, f := range info.Config.Subjects {
			s.subjects = append(s.subjects, strings.Split(f, "."))
		}
		streams = append(streams, s)
	}
	if list.Err() == nil {
		x.streams = streams
	}
}

// subjectMatches reports whether the subject tokens match the filter tokens (* one token, >
// the rest).
func subjectMatches(filter, tokens []string) bool {
	for i, f := range filter {
		if f == ">" {
			return len(tokens) > i
		}
		if i >= len(tokens) || (f != "*" && f != tokens[i]) {
			return false
		}
	}
	return len(filter) == len(tokens)
}
