package adapters

import (
	"context"
	"sync"

	"github.com/moa-run/moa/services/chat/domain"
)

// roomCacheSize bounds the rooms whose members are cached (a few hundred bytes each).
const roomCacheSize = 100_000

// roomCache keeps the part of rooms that never changes (id, product, members, creation), so
// that the membership check every call makes does not read the store each time. A room is
// never deleted and its members never change, so an entry is never stale.
type roomCache struct {
	mu    sync.RWMutex
	max   int
	rooms map[string]domain.Room
}

func newRoomCache(max int) *roomCache {
	return &roomCache{max: max, rooms: make(map[string]domain.Room)}
}

func (c *roomCache) get(id string) (domain.Room, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.rooms[id]
	return r, ok
}

func (c *roomCache) put(r domain.Room) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rooms) >= c.max {
		// Evict an arbitrary entry (map order): cheap, and good enough for a cache whose
		// misses cost one read by id.
		for id := range c.rooms {
			delete(c.rooms, id)
			break
		}
	}
	c.rooms[r.ID] = r
}

// Members returns the immutable part of a room: its id, product, members and creation time.
// The mutable part (last message, activity, read positions) is left zero.
func (r *Repository) Members(ctx context.Context, id string) (domain.Room, error) {
	if room, ok := r.members.get(id); ok {
		return room, nil
	}
	room, err := r.storedRoom(ctx, id) // its members need no flush
	if err != nil {
		return domain.Room{}, err
	}
	room.Activity, room.ConsumerRead, room.SellerRead, room.Last = "", "", "", nil
	r.members.put(room)
	return room, nil
}
