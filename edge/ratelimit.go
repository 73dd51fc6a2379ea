package edge

import "time"

// bucket is a token bucket for one connection's frames. It is only touched by the
// connection's reader goroutine, so it needs no lock, and it costs two words per connection.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes one token if there is one. A new bucket starts full.
func (b *bucket) allow(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Seconds() * rate
		if b.tokens > float64(burst) {
			b.tokens = float64(burst)
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
