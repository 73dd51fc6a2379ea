package contracts

import (
	"errors"
	"fmt"
)

// Kind groups error codes by what a caller should do about them. It is coarse on purpose:
// retry and breaker logic, the edge's frame status and logs switch on the kind, while
// programs that need the precise reason compare codes.
type Kind string

// The kinds. A code belongs to exactly one.
const (
	KindInvalid         Kind = "invalid"         // the request is wrong; repeating it will not help
	KindUnauthenticated Kind = "unauthenticated" // no or bad credentials
	KindForbidden       Kind = "forbidden"       // authenticated, but not allowed
	KindNotFound        Kind = "not_found"       // the thing does not exist (or is not visible to the caller)
	KindConflict        Kind = "conflict"        // the state does not allow it now (duplicate, illegal transition)
	KindUnavailable     Kind = "unavailable"     // transient: nobody answered, overloaded, open breaker; retry may help
	KindTimeout         Kind = "timeout"         // the deadline passed; the outcome may be unknown
	KindInternal        Kind = "internal"        // a bug or an unexpected failure on the server side
)

// Error is the one error type that crosses service boundaries. Its Code is stable and listed in
// the catalogue below; Message is for humans and may change; Field names the offending input
// field for validation errors.
//
// errors.Is(err, contracts.ErrNotFound) is true for any *Error with the same Code, so callers
// compare against the catalogue entries, never against messages.
type Error struct {
	Code    string `json:"code"`
	Kind    Kind   `json:"kind"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	cause   error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// Unwrap returns the local cause, if any. Causes never cross the wire.
func (e *Error) Unwrap() error { return e.cause }

// Msg returns a copy of the catalogue entry e with a specific message.
func (e *Error) Msg(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	c.cause = nil
	return &c
}

// OnField returns a copy of e naming the offending field, with a message.
func (e *Error) OnField(field, format string, args ...any) *Error {
	c := e.Msg(format, args...)
	c.Field = field
	return c
}

// Wrap returns a copy of e that keeps err as its local cause (for logs and errors.Is on the
// server side). The cause's text is not sent to callers, so internal details do not leak.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.cause = err
	return &c
}

// Retryable reports whether repeating the same call might succeed.
func (e *Error) Retryable() bool {
	return e.Kind == KindUnavailable || e.Kind == KindTimeout
}

var catalogue = map[string]*Error{}

func def(code string, kind Kind, message string) *Error {
	if _, dup := catalogue[code]; dup {
		panic("contracts: duplicate error code " + code)
	}
	e := &Error{Code: code, Kind: kind, Message: message}
	catalogue[code] = e
	return e
}

// Lookup returns the catalogue entry for code, or nil.
func Lookup(code string) *Error { return catalogue[code] }

// Catalogue returns every defined error code, for documentation and generated schemas.
func Catalogue() []*Error {
	out := make([]*Error, 0, len(catalogue))
	for _, e := range catalogue {
		out = append(out, e)
	}
	return out
}

// AsError turns any error into an *Error: an *Error anywhere in the chain is returned as is;
// anything else becomes ErrInternal wrapping it.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal.Wrap(err)
}

// The catalogue. Codes are part of the public contract: never rename one, only add.
var (
	// Generic request errors, produced by the runtime itself.
	ErrBadRequest     = def("bad_request", KindInvalid, "the request body is not valid JSON for this endpoint")
	ErrValidation     = def("validation_failed", KindInvalid, "a field is missing or invalid")
	ErrUnknownField   = def("unknown_field", KindInvalid, "the request has a field this endpoint does not know")
	ErrPayloadTooBig  = def("payload_too_large", KindInvalid, "the message is larger than the server accepts")
	ErrInvalidSubject = def("invalid_subject_token", KindInvalid, "a value used in a subject contains forbidden characters")
	ErrInternal       = def("internal", KindInternal, "internal error")
	ErrPanic          = def("handler_panic", KindInternal, "the handler failed unexpectedly")
	ErrNoResponders   = def("no_responders", KindUnavailable, "no service instance is answering this endpoint")
	ErrTimeout        = def("deadline_exceeded", KindTimeout, "the deadline passed before a reply arrived")
	ErrCanceled       = def("canceled", KindTimeout, "the caller canceled the request")
	ErrUnavailable    = def("unavailable", KindUnavailable, "a dependency is unavailable")
	ErrBusy           = def("busy", KindUnavailable, "too many calls in flight; try again shortly")
	ErrOverloaded     = def("overloaded", KindUnavailable, "the service is shedding load")
	ErrCircuitOpen    = def("circuit_open", KindUnavailable, "calls to this endpoint are suspended after repeated failures")
	ErrRateLimited    = def("rate_limited", KindUnavailable, "too many requests")

	// Identity and access.
	ErrUnauthenticated    = def("unauthenticated", KindUnauthenticated, "authentication required")
	ErrInvalidCredentials = def("invalid_credentials", KindUnauthenticated, "email or password is wrong")
	ErrTokenExpired       = def("token_expired", KindUnauthenticated, "the token has expired")
	ErrTokenInvalid       = def("token_invalid", KindUnauthenticated, "the token is not valid")
	ErrTokenReused        = def("refresh_token_reused", KindUnauthenticated, "a refresh token was used twice; its session was revoked")
	ErrForbidden          = def("forbidden", KindForbidden, "not allowed")
	ErrTooManyAttempts    = def("too_many_attempts", KindUnavailable, "too many failed attempts; try again later")

	// Data.
	ErrNotFound          = def("not_found", KindNotFound, "not found")
	ErrAlreadyExists     = def("already_exists", KindConflict, "already exists")
	ErrConflict          = def("conflict", KindConflict, "the change conflicts with the current state")
	ErrIllegalTransition = def("illegal_transition", KindConflict, "the state machine does not allow this transition")
	ErrSoldOut           = def("sold_out", KindConflict, "no seats left")
	ErrPaymentDeclined   = def("payment_declined", KindConflict, "the payment was declined")

	// Durability.
	ErrStreamTooWeak = def("stream_too_weak", KindInternal, "a critical stream is configured weaker than declared")
)
