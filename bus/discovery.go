package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Discovery is a service's side of the NATS service protocol ($SRV.PING, $SRV.INFO and
// $SRV.STATS, what `nats micro` asks): the wire format of nats.go's micro package, answered
// by Moa itself. micro's own accounting measures its handler callback, and Moa's callback only
// hands the request to a worker (bulkhead.go) and returns: micro would report every endpoint
// at a few microseconds with no errors. Here a request is counted when it is answered: its
// processing time runs from its arrival to its answer (the wait for a worker included, as a
// caller sees it; a request shed or refused at once counts with next to no time), and every
// error answer counts as an error, as micro counts Request.Error. Names and versions are
// checked as micro.AddService checks them, so that `nats micro info <name>` can address them.
type Discovery struct {
	nc       *nats.Conn
	identity micro.ServiceIdentity
	desc     string
	data     func(name string) any // Moa's figures, the "data" field of an endpoint's stats

	mu        sync.Mutex
	started   time.Time
	endpoints []*discoveryEndpoint
	verbSubs  []*nats.Subscription
	stopped   bool
}

// The NATS service protocol's name and version rules, as nats.go's micro checks them
// (micro/service.go): a name is one subject token, a version is SemVer.
var (
	discoveryName    = regexp.MustCompile(`^[A-Za-z0-9\-_]+$`)
	discoveryVersion = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
)

type discoveryEndpoint struct {
	info  micro.EndpointInfo
	sub   *nats.Subscription
	stats micro.EndpointStats // counters only; guarded by Discovery.mu
}

// newDiscovery answers the protocol's requests for a service named name on nc.
func newDiscovery(nc *nats.Conn, name, version, description string, metadata map[string]string, data func(string) any) (*Discovery, error) {
	if !discoveryName.MatchString(name) {
		return nil, fmt.Errorf("bus: service name %q: letters, digits, dashes and underscores only (the NATS service protocol's names)", name)
	}
	if !discoveryVersion.MatchString(version) {
		return nil, fmt.Errorf("bus: service %s: version %q is not a semantic version (x.y.z)", name, version)
	}
	d := &Discovery{nc: nc, desc: description, data: data, started: time.Now().UTC(),
		identity: micro.ServiceIdentity{Name: name, ID: strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix), Version: version, Metadata: maps.Clone(metadata)}}
	for verb, answer := range map[micro.Verb]func() any{
		micro.PingVerb:  func() any { return micro.Ping{ServiceIdentity: d.identity, Type: micro.PingResponseType} },
		micro.InfoVerb:  func() any { return d.Info() },
		micro.StatsVerb: func() any { return d.Stats() },
	} {
		// All services, every instance of this one, and this instance.
		for _, ids := range [][2]string{{"", ""}, {name, ""}, {name, d.identity.ID}} {
			subj, err := micro.ControlSubject(verb, ids[0], ids[1])
			if err == nil {
				var sub *nats.Subscription
				sub, err = nc.Subscribe(subj, func(m *nats.Msg) {
					if b, err := json.Marshal(answer()); err == nil {
						_ = m.Respond(b)
					}
				})
				d.verbSubs = append(d.verbSubs, sub)
			}
			if err != nil {
				_ = d.Stop()
				return nil, err
			}
		}
	}
	return d, nil
}

// addEndpoint lists an endpoint and subscribes handle to subject in the protocol's queue
// group. bind gets the endpoint's entry before the first request can arrive.
func (d *Discovery) addEndpoint(name, subject string, metadata map[string]string, bind func(*discoveryEndpoint), handle nats.MsgHandler) error {
	if !discoveryName.MatchString(name) {
		return fmt.Errorf("bus: endpoint name %q: letters, digits, dashes and underscores only (the NATS service protocol's names)", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return errors.New("bus: service stopped")
	}
	e := &discoveryEndpoint{info: micro.EndpointInfo{Name: name, Subject: subject, QueueGroup: micro.DefaultQueueGroup, Metadata: maps.Clone(metadata)}}
	bind(e)
	sub, err := d.nc.QueueSubscribe(subject, micro.DefaultQueueGroup, handle)
	if err != nil {
		return err
	}
	e.sub = sub
	d.endpoints = append(d.endpoints, e)
	return nil
}

// record counts one answered request of e: took is the time from its arrival to its answer
// (waiting for a worker included, as a caller sees it), err its error answer if any.
func (d *Discovery) record(e *discoveryEndpoint, took time.Duration, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e.stats.NumRequests++
	e.stats.ProcessingTime += took
	e.stats.AverageProcessingTime = e.stats.ProcessingTime / time.Duration(e.stats.NumRequests)
	if err != nil {
		e.stats.NumErrors++
		e.stats.LastError = err.Error()
	}
}

// Info is the answer to $SRV.INFO.
func (d *Discovery) Info() micro.Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	info := micro.Info{ServiceIdentity: d.identity, Type: micro.InfoResponseType, Description: d.desc,
		Endpoints: make([]micro.EndpointInfo, 0, len(d.endpoints))}
	for _, e := range d.endpoints {
		info.Endpoints = append(info.Endpoints, e.info)
	}
	return info
}

// Stats is the answer to $SRV.STATS.
func (d *Discovery) Stats() micro.Stats {
	d.mu.Lock()
	eps := make([]*micro.EndpointStats, 0, len(d.endpoints))
	for _, e := range d.endpoints {
		st := e.stats
		st.Name, st.Subject, st.QueueGroup = e.info.Name, e.info.Subject, e.info.QueueGroup
		eps = append(eps, &st)
	}
	stats := micro.Stats{ServiceIdentity: d.identity, Type: micro.StatsResponseType, Started: d.started, Endpoints: eps}
	d.mu.Unlock()
	// Moa's figures are read outside the lock: they take the endpoints' own locks.
	if d.data != nil {
		for _, st := range eps {
			st.Data, _ = json.Marshal(d.data(st.Name))
		}
	}
	return stats
}

// Reset zeroes every endpoint's counters.
func (d *Discovery) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.endpoints {
		e.stats = micro.EndpointStats{}
	}
	d.started = time.Now().UTC()
}

// Stop drains every subscription: no request is taken any more (those received are still
// handed on), and the service no longer answers the protocol. Calling it again does nothing.
func (d *Discovery) Stop() error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	endpoints := slices.Clone(d.endpoints)
	d.mu.Unlock()
	// Drained and flushed without the lock: workers still answering record under it, and the
	// flush may wait up to a second on a slow connection.
	var errs []error
	for _, e := range endpoints {
		if err := e.sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
	}
	for _, s := range d.verbSubs {
		if s != nil {
			if err := s.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				errs = append(errs, err)
			}
		}
	}
	// The server has the unsubscriptions when Stop returns (best effort, as in HandleRaw): a
	// request sent after it finds no responder here.
	_ = d.nc.FlushTimeout(time.Second)
	return errors.Join(errs...)
}

// Stopped reports whether Stop was called.
func (d *Discovery) Stopped() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopped
}
