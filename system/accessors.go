package system

import (
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
)

func (s *System) setState(st State) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}

// State returns where the system is in its life.
func (s *System) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Runtime is the bus runtime every service runs on.
func (s *System) Runtime() *bus.Runtime {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt
}

// Client is the runtime's client, for typed calls (wrap it with client.New).
func (s *System) Client() *bus.Client { return s.Runtime().Client() }

// Conn is the system's NATS connection.
func (s *System) Conn() *nats.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nc
}

// NATSURL is the URL clients connect to (credentials redacted for external servers); empty
// until NATS is up.
func (s *System) NATSURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.natsURL
}

// Registry is the Prometheus registry served on /metrics.
func (s *System) Registry() *prometheus.Registry { return s.reg }

// Services returns the names of the started services, in start order.
func (s *System) Services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.started))
	for i, st := range s.started {
		out[i] = st.name
	}
	return out
}

// Env returns the environment a started service was given (its database URLs), for tests
// and tools that inspect a service's own data.
func (s *System) Env(service string) (bus.Env, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.started {
		if st.name == service {
			return st.env, true
		}
	}
	return bus.Env{}, false
}

// Component returns the component a started service's Start returned (the *edge.Gateway of
// "edge"), for a process that hands it what only it has (moa dev's recent traces).
func (s *System) Component(service string) (bus.Component, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.started {
		if st.name == service {
			return st.comp, true
		}
	}
	return nil, false
}
