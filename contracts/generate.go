package contracts

// The JSON Schemas in contracts/schemas are generated from the registered endpoints and events,
// the error catalogue and the stream declarations; contracts/schemas_test.go fails when they are
// stale.
//go:generate go run ./schemagen/cmd/schemagen -src . -out schemas
