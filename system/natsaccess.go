package system

import (
	"slices"

	"github.com/moa-run/moa/contracts"
)

// NATSUser is one user of a NATS server on which every service connects as itself: what it
// may publish and subscribe to. deploy/nats/nats.conf is generated from NATSUsers
// (deploy/deploygen), and `moa dev` runs its embedded server with the same users, so the
// permissions follow the declarations they come from: the contracts' endpoints, events and
// streams, and each registered service's own declaration of what it does on NATS beyond
// that (host.Registration.NATS: the endpoints it calls, its consumers, buckets, pushes).
// This file holds only the derivation.
type NATSUser struct {
	Name    string
	Comment string
	// Operator users have no permissions block: they may do everything (`moa dlq`, the NATS
	// CLI).
	Operator  bool
	Subscribe []NATSRule
	Publish   []NATSRule
	// Responses lets the user answer requests (allow_responses): every service that serves
	// endpoints.
	Responses bool
}

// NATSRule is a group of subjects with why the user needs them.
type NATSRule struct {
	Comment  string
	Subjects []string
}

// OperatorNATSUser is the operators' user: the tools that inspect and repair (`moa dlq`,
// `moa sagas`, `nats micro ls`, `nats stream ls`).
const OperatorNATSUser = "ops"

// NATSUsers returns a user per registered service, in the registry's order, and the operator
// user last.
func NATSUsers() []NATSUser {
	var out []NATSUser
	for _, name := range Services() {
		out = append(out, serviceNATSUser(name))
	}
	return append(out, NATSUser{Name: OperatorNATSUser, Operator: true,
		Comment: "Operators: `moa dlq`, `moa sagas`, `nats micro ls`, `nats stream ls`. Everything."})
}

func serviceNATSUser(name string) NATSUser {
	reg, _ := Lookup(name)
	n := reg.NATS
	// A mounted front (the edge) answers HTTP, not endpoints.
	u := NATSUser{Name: name, Comment: n.Comment, Responses: reg.Mount == ""}
	sub := func(comment string, s ...string) { u.Subscribe = append(u.Subscribe, NATSRule{comment, s}) }
	pub := func(comment string, s ...string) { u.Publish = append(u.Publish, NATSRule{comment, s}) }

	if u.Responses {
		sub("its own endpoints, and discovery", endpointPrefix(name)+".>", "$SRV.>")
	}
	sub("replies to its calls, in its own inbox space only", InboxPrefix(name)+".>")
	var hears []string
	for _, p := range n.Hears {
		hears = append(hears, p+".*")
	}
	if len(hears) > 0 {
		sub("the pushes it relays", hears...)
	}
	var calls []string
	for _, d := range n.Calls {
		calls = append(calls, d.Info().Subject)
	}
	if len(calls) > 0 {
		pub("the endpoints it calls", calls...)
	}
	if publishesEvents(name) {
		pub("its own events", "evt."+name+".>")
		// The outbox relay chains each row to the previous one of the same stream
		// (Nats-Expected-Last-Msg-Id) and learns which stream stores a subject from the list.
		// Without it the list waited out its timeout in every batch, inside the batch's
		// transaction, and sagas under moa dev crawled.
		pub("the outbox relay's stream list (which stream stores each subject)", "$JS.API.STREAM.LIST")
	}
	var pushes []string
	for _, p := range n.Pushes {
		pushes = append(pushes, p+".*")
	}
	if len(pushes) > 0 {
		pub("pushes (core NATS)", pushes...)
	}
	pub("readiness asks JetStream for the account info", "$JS.API.INFO")

	// Streams: its own, those its consumers read (declared with their owners' config so that
	// start order does not matter) and the dead-letter stream.
	var streams []string
	if n.OwnStream {
		streams = append(streams, ownStream(name))
	}
	for _, c := range n.Consumers {
		streams = append(streams, c.Stream.Name)
	}
	if len(n.Consumers) > 0 {
		streams = append(streams, contracts.StreamDeadLetter.Name)
	}
	streams = dedupe(streams)
	if len(streams) > 0 {
		var s []string
		for _, st := range streams {
			s = append(s, streamAPI(st)...)
		}
		pub("the streams it declares at start", s...)
	}
	var advisories []string
	for _, c := range n.Consumers {
		advisories = append(advisories, "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+c.Stream.Name+"."+c.Durable)
	}
	if len(advisories) > 0 {
		sub("the server's word that a consumer gave up on a message, which the runtime dead-letters", advisories...)
	}
	for _, c := range n.Consumers {
		st, d := c.Stream.Name, c.Durable
		pub("consumer "+d+" on "+st,
			"$JS.API.CONSUMER.CREATE."+st+"."+d, "$JS.API.CONSUMER.CREATE."+st+"."+d+".>",
			"$JS.API.CONSUMER.INFO."+st+"."+d, "$JS.API.CONSUMER.MSG.NEXT."+st+"."+d,
			"$JS.ACK."+st+"."+d+".>", "dlq."+st+"."+d, "$JS.API.STREAM.MSG.GET."+st)
	}
	for _, st := range n.Replays {
		pub("replays of "+st.Name+" with ordered consumers, whose names are random: a whole token is the narrowest a permission can be (no DELETE: they expire)",
			"$JS.API.CONSUMER.CREATE."+st.Name+".*", "$JS.API.CONSUMER.INFO."+st.Name+".*",
			"$JS.API.CONSUMER.MSG.NEXT."+st.Name+".*")
	}
	for _, b := range n.Buckets {
		pub("key-value bucket "+b, append(streamAPI("KV_"+b),
			"$JS.API.DIRECT.GET.KV_"+b+".>", "$JS.API.STREAM.MSG.GET.KV_"+b, "$KV."+b+".>")...)
	}
	u.Subscribe, u.Publish = dedupeRules(u.Subscribe), dedupeRules(u.Publish)
	return u
}

// publishesEvents reports whether a contract declares an event of the service's domain.
func publishesEvents(name string) bool {
	for _, e := range contracts.Events() {
		if e.Subject == "evt."+name || len(e.Subject) > len(name)+5 && e.Subject[:len(name)+5] == "evt."+name+"." {
			return true
		}
	}
	return false
}

// endpointPrefix is the subject prefix of the service's endpoints in the contracts
// (<service>.v<major>).
func endpointPrefix(name string) string {
	for _, d := range contracts.Endpoints() {
		if s := d.Info().Service; s.Name == name {
			return s.Prefix()
		}
	}
	panic("system: no endpoint of " + name + " is registered in contracts")
}

// ownStream is the name of the stream that holds the events of domain name.
func ownStream(name string) string {
	for _, s := range contracts.Streams() {
		if slices.Contains(s.Subjects, "evt."+name+".>") {
			return s.Name
		}
	}
	panic("system: no stream holds the events of " + name)
}

func streamAPI(stream string) []string {
	return []string{"$JS.API.STREAM.CREATE." + stream, "$JS.API.STREAM.UPDATE." + stream, "$JS.API.STREAM.INFO." + stream}
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// dedupeRules drops subjects an earlier rule already allows, and rules left empty.
func dedupeRules(rules []NATSRule) []NATSRule {
	seen := map[string]bool{}
	var out []NATSRule
	for _, r := range rules {
		var s []string
		for _, x := range r.Subjects {
			if !seen[x] {
				seen[x] = true
				s = append(s, x)
			}
		}
		if len(s) > 0 {
			out = append(out, NATSRule{r.Comment, s})
		}
	}
	return out
}
