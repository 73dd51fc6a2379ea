package edge

import (
	"context"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// The connections' clocks — the auth deadline, the token's expiry warning and expiry, and
// WebSocket pings — run on one goroutine that sweeps every connection each tick, instead of
// timers per connection: at tens of thousands of idle connections the timers, their closures
// and the goroutines they start would cost more than the connections themselves. A deadline is
// acted on within one tick (a second by default).

// sweepTick is the sweep period: a tenth of the shortest clock, between 5 ms and 1 s.
func (g *Gateway) sweepTick() time.Duration {
	d := min(g.cfg.AuthTimeout, g.cfg.PingInterval, g.cfg.ExpiryWarning) / 10
	return max(5*time.Millisecond, min(d, time.Second))
}

// sweeper is the sweep as a job ([bus.Every], the one way Moa runs periodic work): started by
// New, stopped by Shutdown. Pings are spread over the ping interval: each run pings the
// connections of one bucket.
func (g *Gateway) sweeper() *bus.Job {
	tick := g.sweepTick()
	buckets := max(1, int(g.cfg.PingInterval/tick))
	var conns []*conn
	n := 0
	return bus.Every("edge sweep", tick, func(context.Context) error {
		now := time.Now()
		g.mu.Lock()
		conns = conns[:0]
		for c := range g.conns {
			conns = append(conns, c)
		}
		g.mu.Unlock()
		for _, c := range conns {
			c.tick(now, n%buckets, buckets)
		}
		clear(conns) // do not keep closed connections alive until the next run
		n++
		return nil
	})
}

// tick applies the connection's clocks at now.
func (c *conn) tick(now time.Time, bucket, buckets int) {
	c.mu.Lock()
	var authLate, expired, warn bool
	exp := c.expiresAt
	switch c.state {
	case stateNew:
		authLate = now.After(c.authDue)
	case stateUser:
		expired = !now.Before(exp)
		if !expired && !c.warned && !now.Before(exp.Add(-c.g.cfg.ExpiryWarning)) {
			warn, c.warned = true, true
		}
	}
	c.mu.Unlock()
	switch {
	case authLate:
		c.closeWith(protocol.CloseAuth, contracts.ErrAuthTimeout.Msg("no valid auth frame within %s", c.g.cfg.AuthTimeout))
	case expired:
		c.closeWith(protocol.CloseAuth, contracts.ErrTokenExpired.Msg("the access token expired; reconnect with a fresh one"))
	case warn:
		c.send(protocol.ServerFrame{Type: protocol.TypeExpiring, Body: map[string]time.Time{"expires_at": exp}})
	}
	if int(c.id%uint64(buckets)) == bucket {
		c.enqueue(pingFrame)
	}
}

// pingFrame in the send queue stands for a WebSocket ping: written by the connection's writer,
// in order with its other frames, so the sweep never waits on a connection.
var pingFrame = []byte{}

// writePing writes a ping; c.wmu is held (write).
func (c *conn) writePing() error {
	return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.g.cfg.WriteTimeout))
}
