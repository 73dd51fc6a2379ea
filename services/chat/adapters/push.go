package adapters

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/app"
	"github.com/moa-run/moa/services/chat/domain"
)

// Pusher publishes pushes on users' push subjects with core NATS: every edge instance
// subscribes to the subjects of the users connected to it. Nothing is stored; the store is the
// record, and clients catch up from it.
type Pusher struct {
	nc  *nats.Conn
	log *slog.Logger
}

var _ app.Pusher = (*Pusher)(nil)

// NewPusher returns a pusher on nc.
func NewPusher(nc *nats.Conn, log *slog.Logger) *Pusher { return &Pusher{nc: nc, log: log} }

// Message implements app.Pusher: a chat.message push carries the message as chat.v1.history
// shows it.
func (p *Pusher) Message(ctx context.Context, m domain.Message, userIDs ...string) {
	p.push(ctx, contracts.PushTopicChatMessage, contracts.ChatMessage{ID: m.ID, RoomID: m.RoomID, SenderID: m.SenderID,
		Text: m.Text, ClientMsgID: m.ClientMsgID, SentAt: m.SentAt}, userIDs...)
}

// Receipt implements app.Pusher: a chat.read push carries the receipt as chat.v1.mark_read
// answers it.
func (p *Pusher) Receipt(ctx context.Context, r app.Receipt, userIDs ...string) {
	p.push(ctx, contracts.PushTopicChatRead, contracts.ChatReadReceipt{RoomID: r.RoomID, ReaderID: r.ReaderID,
		UpToMessageID: r.UpTo.ID, UpToSentAt: r.UpTo.SentAt, Unread: r.Unread}, userIDs...)
}

// push publishes body under topic to each user. A user id that is not a safe subject token is
// skipped and logged: a subject is never built from unchecked input.
func (p *Pusher) push(_ context.Context, topic string, body any, userIDs ...string) {
	raw, err := json.Marshal(body)
	if err == nil {
		raw, err = json.Marshal(contracts.Push{Topic: topic, Body: raw})
	}
	if err != nil {
		p.log.Error("encoding a push failed", "topic", topic, "error", err)
		return
	}
	for _, u := range userIDs {
		subject, err := contracts.PushUserSubject(u)
		if err != nil {
			p.log.Error("not pushing to a user id that is not a subject token", "topic", topic, "error", err)
			continue
		}
		if err := p.nc.Publish(subject, raw); err != nil {
			p.log.Warn("push failed", "topic", topic, "subject", subject, "error", err)
		}
	}
}
