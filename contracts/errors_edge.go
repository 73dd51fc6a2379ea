package contracts

// Errors of the WebSocket edge, sent to app clients in error frames.
var (
	// ErrUnknownMethod answers a request frame whose method is not on the edge's allowlist.
	// Internal endpoints are deliberately indistinguishable from ones that do not exist.
	ErrUnknownMethod = def("unknown_method", KindNotFound, "no such method")
	// ErrTooManyConnections refuses a connection beyond the per-user cap.
	ErrTooManyConnections = def("too_many_connections", KindUnavailable, "this user has too many open connections")
	// ErrSlowConsumer is the reason a connection that could not keep up with its messages was closed.
	ErrSlowConsumer = def("slow_consumer", KindUnavailable, "the connection did not read its messages fast enough")
	// ErrOriginForbidden refuses a WebSocket handshake from a web origin not on the allowlist.
	ErrOriginForbidden = def("origin_forbidden", KindForbidden, "this web origin may not connect")
	// ErrAuthTimeout is the reason a connection that did not authenticate in time was closed.
	ErrAuthTimeout = def("auth_timeout", KindUnauthenticated, "no auth frame within the auth deadline")
)
