package contracts

import (
	"fmt"
	"sort"
	"sync"
)

// The registry lists every endpoint and event declared in this package, so that generated
// schemas, docs and tools (moa dev, the edge) see the whole contract without reflection.
//
// Each contracts file that declares endpoints or events adds them in an init:
//
//	func init() { register(AuthSignup, AuthLogin, AuthUserSignedUp) }
//
// A declaration that is not registered has no generated schema, so a non-Go service cannot
// see it; contracts/schemas_test.go makes the omission visible in review as a missing file.

// registrant is implemented by Endpoint and Event: the things register accepts.
type registrant interface{ registryEntry() entry }

type entry struct {
	endpoint Describer
	event    EventInfo
	isEvent  bool
}

func (e Endpoint[Req, Resp]) registryEntry() entry { return entry{endpoint: e} }
func (e Event[T]) registryEntry() entry            { return entry{event: e.Info(), isEvent: true} }

var registry struct {
	mu        sync.Mutex
	endpoints map[string]Describer // by subject
	events    map[string]EventInfo // by type
}

// register adds endpoints and events to the registry. A subject or event type registered twice
// is a programming error in this package and panics at init, like a duplicate error code.
func register(items ...registrant) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.endpoints == nil {
		registry.endpoints = map[string]Describer{}
		registry.events = map[string]EventInfo{}
	}
	for _, it := range items {
		e := it.registryEntry()
		if e.isEvent {
			if _, dup := registry.events[e.event.Type]; dup {
				panic(fmt.Sprintf("contracts: event type %s registered twice", e.event.Type))
			}
			registry.events[e.event.Type] = e.event
			continue
		}
		subject := e.endpoint.Info().Subject
		if _, dup := registry.endpoints[subject]; dup {
			panic(fmt.Sprintf("contracts: endpoint %s registered twice", subject))
		}
		registry.endpoints[subject] = e.endpoint
	}
}

// Endpoints returns every registered endpoint, sorted by subject.
func Endpoints() []Describer {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	out := make([]Describer, 0, len(registry.endpoints))
	for _, d := range registry.endpoints {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info().Subject < out[j].Info().Subject })
	return out
}

// Events returns every registered event, sorted by type.
func Events() []EventInfo {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	out := make([]EventInfo, 0, len(registry.events))
	for _, e := range registry.events {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
