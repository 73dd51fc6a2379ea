package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/moa-run/moa/contracts"
)

// RefreshTokenBytes is the entropy of a refresh token.
const RefreshTokenBytes = 32

// A session is a family of refresh tokens: login starts one, each refresh spends the
// current token and issues its successor. Only SHA-256 hashes are stored, so a leaked table
// does not hand out sessions; the tokens have 256 bits of entropy, so an unsalted fast hash is
// enough (nothing to brute-force).

// RefreshToken is one stored link of a session.
type RefreshToken struct {
	Hash           []byte
	SessionID      string
	UserID         string
	IssuedAt       time.Time
	ExpiresAt      time.Time
	Used           bool // spent by a refresh: presenting it again is reuse
	SessionRevoked bool // the whole family was ended (logout or reuse)
}

// NewRefreshToken returns a fresh opaque token (base64url of 32 random bytes) and its hash.
func NewRefreshToken() (token string, hash []byte, err error) {
	b := make([]byte, RefreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken is the stored form of a refresh token.
func HashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CheckRefresh decides whether t may be exchanged now. ErrTokenReused means t was spent
// already: somebody holds a copy, so the caller must revoke the whole session. An ended
// session and an expired token are plain failures.
func (t RefreshToken) CheckRefresh(now time.Time) error {
	switch {
	case t.SessionRevoked:
		return contracts.ErrTokenInvalid.Msg("the session of this refresh token has ended")
	case t.Used:
		return contracts.ErrTokenReused.Msg("this refresh token was already used; the session has been revoked")
	case !now.Before(t.ExpiresAt):
		return contracts.ErrTokenExpired.Msg("the refresh token has expired")
	}
	return nil
}

// Session revocation reasons, stored for audits.
const (
	RevokedLogout    = "logout"
	RevokedLogoutAll = "logout_all"
	RevokedReuse     = "reuse"
)
