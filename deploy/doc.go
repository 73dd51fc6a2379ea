// Package deploy holds the deployments next to it: the NATS server config of the three-server
// cluster with one user per service (nats/nats.conf) and the PostgreSQL init script
// (postgres/init.sql), used by docker-compose.yml and the Dockerfile at the repository root,
// and the Kubernetes manifests (k8s/). All of them, and the service blocks of
// docker-compose.yml, are generated from the contracts and the registered services' own
// declarations (host.Registration; deploygen); generated_test.go fails when they are stale.
// The Go package only has the tests that load those files with the real parsers (compose-go,
// nats-server's, the Kubernetes API types), form a cluster from them and run the services
// under them.
package deploy

//go:generate go run ./deploygen/cmd/deploygen -root ..
