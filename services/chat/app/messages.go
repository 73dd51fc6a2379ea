package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/domain"
)

// Send stores a message of senderID in roomID and pushes it to both members. It returns only
// after the message is stored: the ack means the message is history (its room's summary
// follows: see Repository.AppendMessage). A repeat of
// an earlier send (same client message id) stores nothing and returns the earlier message with
// dup set; it finishes the steps the earlier send may not have (room, push), so a send that
// failed after storing is completed by its retry.
func (a *App) Send(ctx context.Context, senderID, roomID, text, clientMsgID string) (m domain.Message, dup bool, err error) {
	room, err := a.Room(ctx, senderID, roomID)
	if err != nil {
		return domain.Message{}, false, err
	}
	id, err := a.newID()
	if err != nil {
		return domain.Message{}, false, err
	}
	m, err = domain.NewMessage(id, room, senderID, text, clientMsgID, a.now())
	if err != nil {
		return domain.Message{}, false, err
	}
	stored, dup, err := a.repo.AppendMessage(ctx, m, room.SideOf(senderID))
	if err != nil {
		return domain.Message{}, false, err
	}
	if dup {
		if err := m.SameAs(stored); err != nil {
			return domain.Message{}, false, err
		}
	} else {
		a.sent()
	}
	a.push.Message(ctx, stored, room.Other(senderID), senderID)
	return stored, dup, nil
}

// History returns a page of roomID's messages before the message before (the newest when it is
// empty), newest first, and whether older ones exist.
func (a *App) History(ctx context.Context, userID, roomID, before string, limit int) ([]domain.Message, bool, error) {
	if _, err := a.Room(ctx, userID, roomID); err != nil {
		return nil, false, err
	}
	var pos domain.Pos
	if before != "" {
		m, err := a.repo.Message(ctx, roomID, before)
		if isNotFound(err) {
			return nil, false, contracts.ErrNotFound.OnField("before", "room %s has no message %s", roomID, before)
		}
		if err != nil {
			return nil, false, err
		}
		pos = m.Pos()
	}
	limit = clamp(limit, contracts.ChatHistoryDefault, contracts.ChatHistoryMax)
	items, err := a.repo.History(ctx, roomID, pos, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(items) > limit {
		return items[:limit], true, nil
	}
	return items, false, nil
}

// clamp maps a requested page size to def when unset and to at most most.
func clamp(n, def, most int) int {
	if n <= 0 {
		return def
	}
	return min(n, most)
}
