// Package edge is Moa's WebSocket front door: app clients (browsers, mobile apps) reach the
// system only through it. One Gateway is one edge instance; several behind a load balancer on
// one NATS act as one.
//
// A connection says hello, authenticates within Config.AuthTimeout (with an access token, or
// as anonymous), then sends frames (docs/protocol.md, package edge/protocol):
//
//   - req frames call an allowlisted service endpoint ([DefaultRoutes]) under a role policy,
//     over the bus, with the user's token: services check identity themselves, and identity
//     never comes from a frame;
//   - resume frames fetch the notifications missed since a sequence (or say "resync");
//   - subscribe frames listen to a chat room's typing signals and its seller's presence;
//   - typing frames signal the other member of a room, on whichever instance they are.
//
// Pushes published by services on push.user.<id> (contracts.Push) reach every connection of
// the user on every instance: an instance subscribes to the push subjects of the users
// connected to it. Each connection has a bounded send queue with write deadlines; a client
// that does not read is closed (4408) instead of slowing anyone down. Frames are size-limited
// (also after decompression), rate-limited per connection, and a user's connections are
// capped per instance. Close codes are listed in package protocol.
//
// Pages served by the edge sign in over HTTP (session/login, session/refresh, session/logout,
// session.go): the refresh token lives in an HttpOnly cookie, so the tabs of one browser share
// one session and JavaScript never holds it.
//
// In development (moa dev) the demo page has an operations page at /#ops: live charts of the
// process's key figures, its recent traces and a saga's timeline by subscription id. Its
// data comes from /ops/api/ ([Ops]), which only an operator's token opens.
package edge
