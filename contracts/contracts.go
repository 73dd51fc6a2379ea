// Package contracts is the only thing Moa services share: subjects, message types, event
// types, stream declarations and the error catalogue. A service never imports another service;
// it imports contracts and talks over NATS.
//
// # Subject naming
//
// Requests (request-reply, served through nats.go's micro package):
//
//	<service>.v<major>.<endpoint>        e.g. catalog.v1.get_product
//
// The service name is the micro service name, so `nats micro info catalog` lists exactly the
// endpoints declared here. The major version is part of the subject so that a v2 can run beside
// v1 during a migration.
//
// Events (JetStream, one stream per domain):
//
//	evt.<domain>.<event_type>.<key>      e.g. evt.catalog.product_changed.7f9c…
//
// The last token is the event's key (usually an aggregate id); per-key consumers use it to keep
// events for one key in order. Keys and every other value placed in a subject go through
// [Token], which rejects '.', '*', '>', whitespace and control characters: a subject is never
// built from unchecked input.
//
// Everything that crosses the wire is JSON. JSON Schemas generated from these Go types live in
// contracts/schemas so that a service written in another language can join.
package contracts

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTokenLen bounds a single subject token built from a value.
const MaxTokenLen = 128

// Token checks that s is safe to use as one token of a NATS subject and returns it unchanged.
// It is the only way values get into subjects.
func Token(field, s string) (string, error) {
	if s == "" {
		return "", ErrInvalidSubject.OnField(field, "%s must not be empty", field)
	}
	if len(s) > MaxTokenLen {
		return "", ErrInvalidSubject.OnField(field, "%s is longer than %d bytes", field, MaxTokenLen)
	}
	if !utf8.ValidString(s) {
		return "", ErrInvalidSubject.OnField(field, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", ErrInvalidSubject.OnField(field, "%s contains %q, which is not allowed in a subject", field, r)
		}
	}
	return s, nil
}

// IsToken reports whether s passes [Token].
func IsToken(s string) bool {
	_, err := Token("value", s)
	return err == nil
}

// Join builds a subject from tokens that are already known to be safe (constants or values that
// passed [Token]).
func Join(tokens ...string) string { return strings.Join(tokens, ".") }
