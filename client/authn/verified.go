package authn

import (
	"crypto/ed25519"
	"sync"
	"time"

	"github.com/moa-run/moa/contracts"
)

// verifiedCacheSize bounds each of the verified-token cache's two generations. A service sees
// each user's token once per request, so a few thousand signed-in users fill it; past that,
// the oldest generation is forgotten and its tokens are verified again once.
const verifiedCacheSize = 4096

// verifiedToken is what a token that passed Verify stands for, and what makes it still good:
// its expiry, and the key that signed it (a key the auth service withdrew must stop a cached
// token as it stops a fresh one).
type verifiedToken struct {
	p   contracts.Principal
	exp time.Time
	kid string
	key ed25519.PublicKey
}

// verifiedCache remembers tokens that passed Verify, keyed by the whole token, so that the
// next request with the same token costs a map lookup, not an Ed25519 verification (about
// 50 µs, the largest part of a small request's cost in a service). Only tokens that verified
// go in, so a flood of forged tokens cannot fill it; a forged token never equals a cached one
// byte for byte. Two generations bound its memory: when the current one is full it becomes the
// old one and the old one is dropped, and a hit in the old one is carried over.
type verifiedCache struct {
	mu       sync.RWMutex
	cur, old map[string]verifiedToken
	size     int
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{cur: make(map[string]verifiedToken), size: size}
}

func (c *verifiedCache) get(token string) (verifiedToken, bool) {
	c.mu.RLock()
	e, ok := c.cur[token]
	if !ok {
		e, ok = c.old[token]
		if ok {
			c.mu.RUnlock()
			c.put(token, e)
			return e, true
		}
	}
	c.mu.RUnlock()
	return e, ok
}

func (c *verifiedCache) put(token string, e verifiedToken) {
	if c.size == 0 {
		return // caching off (the benchmark's baseline)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[string]verifiedToken, c.size)
	}
	c.cur[token] = e
}

func (c *verifiedCache) drop(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cur, token)
	delete(c.old, token)
}

// len is how many tokens are remembered (tests).
func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cur) + len(c.old)
}
