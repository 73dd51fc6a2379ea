// Package authn verifies Moa access tokens locally. A service builds one Verifier on its bus
// client; the Verifier fetches the auth service's public keys (auth.v1.keys) once, caches
// them, and checks every token's EdDSA signature, issuer and expiry without a network call.
//
//	v := authn.NewVerifier(rt.Client())
//	p, err := v.FromContext(ctx)             // the caller's token, carried by bus
//	if err := authn.RequireRole(p, contracts.RoleSeller); err != nil { ... }
//
// The token format lives here too ([Issue]), so that the auth service and test issuers mint
// exactly what verifiers accept.
package authn

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
)

// Claims are the claims of a Moa access token.
type Claims struct {
	Role  contracts.Role `json:"role"`
	Email string         `json:"email"`
	Name  string         `json:"name"`
	jwt.RegisteredClaims
}

// Principal returns the principal the claims describe.
func (c Claims) Principal() contracts.Principal {
	return contracts.Principal{UserID: c.Subject, Role: c.Role, Email: c.Email, DisplayName: c.Name}
}

// Issue signs an access token for p with key, naming kid in the header, valid from now for ttl.
// It returns the token and its expiry.
func Issue(key ed25519.PrivateKey, kid string, p contracts.Principal, now time.Time, ttl time.Duration) (string, time.Time, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", time.Time{}, fmt.Errorf("authn: signing key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	// JWT times have second precision; truncating here makes the returned expiry the one in
	// the token.
	now = now.Truncate(time.Second)
	exp := now.Add(ttl)
	claims := Claims{
		Role: p.Role, Email: p.Email, Name: p.DisplayName,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    contracts.AccessTokenIssuer,
			Subject:   p.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        uuid.NewString(),
		},
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authn: signing: %w", err)
	}
	return s, exp, nil
}

var b64 = base64.RawURLEncoding

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key: a stable key id that
// anyone holding the key can recompute.
func Thumbprint(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace, as RFC 7638 requires.
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// PublicJWK describes pub as a JWK with key id kid.
func PublicJWK(kid string, pub ed25519.PublicKey) contracts.JWK {
	return contracts.JWK{Kty: "OKP", Crv: "Ed25519", Alg: "EdDSA", Use: "sig", Kid: kid, X: b64.EncodeToString(pub)}
}

// ParseJWK returns the Ed25519 public key of k, rejecting any other key type.
func ParseJWK(k contracts.JWK) (ed25519.PublicKey, error) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != "EdDSA") || (k.Use != "" && k.Use != "sig") {
		return nil, fmt.Errorf("authn: key %q is not an Ed25519 signing key", k.Kid)
	}
	if k.Kid == "" {
		return nil, fmt.Errorf("authn: key without kid")
	}
	raw, err := b64.DecodeString(k.X)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("authn: key %q: x is not a base64url 32-byte key", k.Kid)
	}
	return ed25519.PublicKey(raw), nil
}
