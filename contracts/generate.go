package contracts

// The JSON Schemas in contracts/schemas are generated from the registered endpoints and events,
// the error catalogue and the stream declarations, and so is the call policy table of
// docs/protocol.md (from each endpoint's Access); contracts/schemas_test.go fails when either is
// stale.
//go:generate go run ./schemagen/cmd/schemagen -src . -out schemas -doc ../docs/protocol.md
