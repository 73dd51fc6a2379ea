package adapters

import (
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/app"
	"github.com/moa-run/moa/services/notify/domain"
)

// Pusher publishes stored notifications on their users' push subjects with core NATS, each as
// the contracts.Notification notify.v1.since returns. A lost push costs nothing but latency:
// the client sees the gap in Seq, or reconnects, and asks notify.v1.since.
type Pusher struct {
	nc  *nats.Conn
	log *slog.Logger
}

var _ app.Pusher = (*Pusher)(nil)

// NewPusher returns a pusher on nc.
func NewPusher(nc *nats.Conn, log *slog.Logger) *Pusher { return &Pusher{nc: nc, log: log} }

// Push publishes each notification to its user.
func (p *Pusher) Push(ns ...domain.Notification) {
	for _, n := range ns {
		subject, err := contracts.PushUserSubject(n.UserID)
		if err != nil {
			p.log.Error("not pushing to a user id that is not a subject token", "error", err)
			continue
		}
		body, err := json.Marshal(contracts.Notification{Seq: n.Seq, Kind: n.Kind, Title: n.Title, Body: n.Body,
			CreatedAt: n.CreatedAt.UTC(), Data: n.Data})
		if err == nil {
			body, err = json.Marshal(contracts.Push{Topic: contracts.PushTopicNotification, Seq: n.Seq, Body: body})
		}
		if err != nil {
			p.log.Error("encoding a push failed", "error", err)
			continue
		}
		if err := p.nc.Publish(subject, body); err != nil {
			p.log.Warn("push failed", "subject", subject, "error", err)
		}
	}
}
