// Package deploy holds the container deployment next to it: the NATS server config with one
// user per service (nats/nats.conf) and the PostgreSQL init script (postgres/init.sql), used
// by docker-compose.yml and the Dockerfile at the repository root. Both files and the service
// blocks of docker-compose.yml are generated from the contracts and the registered services'
// own declarations (host.Registration; deploygen); generated_test.go fails when they are stale. The Go package only has the tests
// that load those files with the real parsers and run the services under them.
package deploy

//go:generate go run ./deploygen/cmd/deploygen -root ..
