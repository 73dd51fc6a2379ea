package edge

import (
	"context"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// verifyTimeout bounds checking one token (a key fetch at most).
const verifyTimeout = 5 * time.Second

// authOK is the body of the answer to a successful auth or refresh frame.
type authOK struct {
	Anonymous bool                 `json:"anonymous,omitempty"`
	User      *contracts.Principal `json:"user,omitempty"`
	ExpiresAt *time.Time           `json:"expires_at,omitempty"`
}

// verify checks an access token and returns its principal and expiry. The edge enforces the
// expiry by its own clock, without the verifier's leeway: a connection never outlives its
// token.
func (g *Gateway) verify(ctx context.Context, token string) (contracts.Principal, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	p, err := g.verifier.Verify(ctx, token)
	if err != nil {
		return p, time.Time{}, err
	}
	// The signature was just checked; this only reads the expiry out of the same token.
	var claims authn.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.ExpiresAt == nil {
		return p, time.Time{}, contracts.ErrTokenInvalid.Msg("the token has no expiry")
	}
	exp := claims.ExpiresAt.Time
	if !time.Now().Before(exp) {
		return p, exp, contracts.ErrTokenExpired.Msg("the access token has expired")
	}
	// A subject must be usable in a push subject; a token naming anything else is refused
	// before any subject is built from it.
	if _, err := contracts.PushUserSubject(p.UserID); err != nil {
		return p, exp, err
	}
	return p, exp, nil
}

// handleAuth starts the session: anonymous, or as the user of a token. An anonymous session
// can later be upgraded by an auth frame with a token (after signing in over it); a signed-in
// one replaces its token with refresh frames only.
func (c *conn) handleAuth(f protocol.ClientFrame) {
	state, _, _ := c.identity()
	if state == stateUser {
		c.sendError(f.ID, contracts.ErrConflict.Msg("already signed in; send a refresh frame to replace the token"))
		return
	}
	if f.Anonymous {
		if state != stateNew {
			c.sendError(f.ID, contracts.ErrConflict.Msg("the session is already anonymous"))
			return
		}
		c.mu.Lock()
		c.state = stateAnonymous
		c.mu.Unlock()
		c.send(protocol.ServerFrame{Type: protocol.TypeOK, ID: f.ID, Body: authOK{Anonymous: true}})
		return
	}
	p, exp, err := c.g.verify(context.Background(), f.Token)
	if err != nil {
		c.authFailed(f.ID, err)
		return
	}
	if !c.g.userJoined(c, p) {
		c.sendError(f.ID, contracts.ErrTooManyConnections.Msg("at most %d connections per user", c.g.cfg.MaxConnsPerUser))
		c.closeWith(protocol.CloseTooManyConns, contracts.ErrTooManyConnections.Msg("at most %d connections per user", c.g.cfg.MaxConnsPerUser))
		return
	}
	c.mu.Lock()
	if c.ended { // the connection went away while the token was checked
		c.mu.Unlock()
		c.g.userLeft(c, p)
		return
	}
	c.state, c.principal, c.token = stateUser, p, f.Token
	c.setExpiry(exp)
	c.mu.Unlock()
	// Listening for the user's pushes is confirmed by the server before the answer, so that
	// whatever is published after the client sees "ok" reaches it.
	if err := c.g.listenUser(c, p); err != nil {
		c.sendError(f.ID, err)
		c.closeWith(protocol.CloseInternalError, contracts.AsError(err))
		return
	}
	c.send(protocol.ServerFrame{Type: protocol.TypeOK, ID: f.ID, Body: authOK{User: &p, ExpiresAt: &exp}})
}

// authFailed answers a rejected token. A connection that keeps sending bad tokens is closed;
// one that sends none in time is closed by the auth deadline.
func (c *conn) authFailed(id string, err error) {
	c.g.metrics.authFailures.Inc()
	c.sendError(id, err)
	c.authFailures++
	if c.authFailures >= maxAuthFailures {
		c.closeWith(protocol.CloseAuth, contracts.AsError(err))
	}
}

// handleRefresh replaces the access token of a signed-in session with a newer one of the same
// user, moving the expiry.
func (c *conn) handleRefresh(f protocol.ClientFrame) {
	state, cur, _ := c.identity()
	if state != stateUser {
		c.sendError(f.ID, contracts.ErrUnauthenticated.Msg("refresh needs a signed-in session; send an auth frame"))
		return
	}
	p, exp, err := c.g.verify(context.Background(), f.Token)
	if err != nil {
		c.authFailed(f.ID, err)
		return
	}
	if p.UserID != cur.UserID || p.Role != cur.Role {
		// What the connection listens to was set up for the first token's user and role.
		c.sendError(f.ID, contracts.ErrForbidden.Msg("the token is for another user or role; open a new connection for it"))
		return
	}
	c.mu.Lock()
	c.principal, c.token = p, f.Token
	c.setExpiry(exp)
	c.mu.Unlock()
	c.send(protocol.ServerFrame{Type: protocol.TypeOK, ID: f.ID, Body: authOK{User: &p, ExpiresAt: &exp}})
}

// setExpiry records when the token expires; the sweep warns and then closes (sweep.go).
// Called with c.mu held.
func (c *conn) setExpiry(exp time.Time) {
	c.expiresAt = exp
	c.warned = false
}
