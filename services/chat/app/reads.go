package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/domain"
)

// Receipt is a member's read position in a room after MarkRead.
type Receipt struct {
	RoomID   string
	ReaderID string
	UpTo     domain.Message // the message the position is at
	Unread   int64          // what the reader has left unread in the room
}

// MarkRead moves readerID's read position in roomID forward to message upTo. When it moved,
// the receipt is pushed to the other member and to the reader's other connections. Marking a
// message at or before the position changes nothing and returns the position as it is.
func (a *App) MarkRead(ctx context.Context, readerID, roomID, upTo string) (Receipt, error) {
	room, err := a.Room(ctx, readerID, roomID)
	if err != nil {
		return Receipt{}, err
	}
	m, err := a.repo.Message(ctx, roomID, upTo)
	if isNotFound(err) {
		return Receipt{}, contracts.ErrNotFound.OnField("up_to_message_id", "room %s has no message %s", roomID, upTo)
	}
	if err != nil {
		return Receipt{}, err
	}
	before, after, err := a.repo.AdvanceRead(ctx, roomID, room.SideOf(readerID), m.Pos())
	if err != nil {
		return Receipt{}, err
	}
	if after != m.Pos() {
		// The reader had read further already: the receipt shows where they are.
		if m, err = a.repo.Message(ctx, roomID, after.ID()); err != nil {
			return Receipt{}, err
		}
	}
	unread, err := a.repo.CountUnread(ctx, roomID, readerID, after)
	if err != nil {
		return Receipt{}, err
	}
	rc := Receipt{RoomID: roomID, ReaderID: readerID, UpTo: m, Unread: unread}
	if after.After(before) {
		a.push.Receipt(ctx, rc, room.Other(readerID), readerID)
	}
	return rc, nil
}

// RoomSummary is a room in a user's list.
type RoomSummary struct {
	Room   domain.Room
	Unread int64
}

// Rooms returns a page of userID's rooms after the room before (from the most recently active
// when it is empty), with userID's unread counts, and whether more rooms exist.
func (a *App) Rooms(ctx context.Context, userID, before string, limit int) ([]RoomSummary, bool, error) {
	var pos domain.Pos
	if before != "" {
		r, err := a.repo.Room(ctx, before)
		if err == nil && !r.IsMember(userID) {
			err = contracts.ErrNotFound
		}
		if isNotFound(err) {
			return nil, false, contracts.ErrNotFound.OnField("before", "no chat room %s", before)
		}
		if err != nil {
			return nil, false, err
		}
		pos = r.Activity
	}
	limit = clamp(limit, contracts.ChatRoomsDefault, contracts.ChatRoomsMax)
	rooms, err := a.repo.Rooms(ctx, userID, pos, limit+1)
	if err != nil {
		return nil, false, err
	}
	more := len(rooms) > limit
	if more {
		rooms = rooms[:limit]
	}
	out := make([]RoomSummary, len(rooms))
	for i, r := range rooms {
		out[i].Room = r
		if r.MayHaveUnread(userID) {
			if out[i].Unread, err = a.repo.CountUnread(ctx, r.ID, userID, r.ReadPos(userID)); err != nil {
				return nil, false, err
			}
		}
	}
	return out, more, nil
}

// Unread returns userID's unread messages over all rooms and the number of rooms they are in.
// Only rooms whose last message is someone else's, after userID's read position, are counted:
// in the others the user has read, or replied to, everything.
func (a *App) Unread(ctx context.Context, userID string) (total int64, rooms int, err error) {
	candidates, err := a.repo.RoomsAwaiting(ctx, userID)
	if err != nil {
		return 0, 0, err
	}
	for _, r := range candidates {
		if !r.MayHaveUnread(userID) {
			continue
		}
		n, err := a.repo.CountUnread(ctx, r.ID, userID, r.ReadPos(userID))
		if err != nil {
			return 0, 0, err
		}
		if n > 0 {
			total += n
			rooms++
		}
	}
	return total, rooms, nil
}
