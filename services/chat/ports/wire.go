package ports

import (
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/app"
	"github.com/moa-run/moa/services/chat/domain"
)

// The contract's forms of the chat's types. The pushes (adapters.Pusher) carry the same
// contract types, so a pushed message or receipt reads like the one an endpoint returns.

func roomView(r domain.Room) contracts.ChatRoom {
	return contracts.ChatRoom{ID: r.ID, ProductID: r.ProductID, ConsumerID: r.ConsumerID, SellerID: r.SellerID,
		ProductTitle: r.ProductTitle, CreatedAt: r.CreatedAt}
}

func messageView(m domain.Message) contracts.ChatMessage {
	return contracts.ChatMessage{ID: m.ID, RoomID: m.RoomID, SenderID: m.SenderID, Text: m.Text,
		ClientMsgID: m.ClientMsgID, SentAt: m.SentAt}
}

func receiptView(r app.Receipt) contracts.ChatReadReceipt {
	return contracts.ChatReadReceipt{RoomID: r.RoomID, ReaderID: r.ReaderID, UpToMessageID: r.UpTo.ID,
		UpToSentAt: r.UpTo.SentAt, Unread: r.Unread}
}
