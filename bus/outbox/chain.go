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
type streamIndex struct {
	streams []streamSubjects
	loaded  time.Time
	stale   bool
}

type streamSubjects struct {
	name     string
	subjects [][]string // tokenised filters
}

const refreshEvery = 5 * time.Second

// of returns the stream that stores subject, or "" when none is known (the row is then
// published without a chain).
func (x *streamIndex) of(ctx context.Context, js jetstream.JetStream, subject string) string {
	tokens := strings.Split(subject, ".")
	name := x.match(tokens)
	if (name == "" || x.stale) && time.Since(x.loaded) >= refreshEvery {
		x.load(ctx, js)
		name = x.match(tokens)
	}
	return name
}

func (x *streamIndex) match(tokens []string) string {
	for _, s := range x.streams {
		for _, f := range s.subjects {
			if subjectMatches(f, tokens) {
				return s.name
			}
		}
	}
	return ""
}

func (x *streamIndex) load(ctx context.Context, js jetstream.JetStream) {
	x.loaded, x.stale = time.Now(), false
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var streams []streamSubjects
	list := js.ListStreams(ctx)
	for info := range list.Info() {
		s := streamSubjects{name: info.Config.Name}
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
