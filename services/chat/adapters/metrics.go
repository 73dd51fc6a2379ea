package adapters

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
)

// MessagesCounter registers moa_chat_messages_total on reg (or reuses the one there) and
// returns what increments it.
func MessagesCounter(reg prometheus.Registerer) func() {
	c := bus.RegisterOrGet(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "moa", Subsystem: "chat", Name: "messages_total",
		Help: "Chat messages stored (a repeated send of the same client message is not counted).",
	}))
	return c.Inc
}
