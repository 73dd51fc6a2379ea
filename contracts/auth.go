package contracts

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AuthService owns accounts, sessions and the keys that sign access tokens. Other services
// never call it to check a token: they fetch its public keys (AuthKeys) once and verify
// locally with client/authn.
var AuthService = Service{Name: "auth", Version: "1.0.0", Major: 1,
	Description: "accounts, sessions and access-token signing keys"}

// Role is what an account may do in the marketplace.
type Role string

// The roles. An account has exactly one.
const (
	RoleConsumer Role = "consumer" // browses, subscribes, pays
	RoleSeller   Role = "seller"   // publishes subscription products
	RoleWriter   Role = "writer"   // writes blog posts (the post service)
	// RoleOperator runs the system (operator endpoints, the whole dev mailbox). No account
	// has it: its short-lived tokens come from AuthOperatorToken, for the operator secret.
	RoleOperator Role = "operator"
)

// Valid reports whether r is a role an account can sign up with.
func (r Role) Valid() bool { return r == RoleConsumer || r == RoleSeller || r == RoleWriter }

// Known reports whether r is a role a token may carry: an account's or the operator's.
func (r Role) Known() bool { return r.Valid() || r == RoleOperator }

// EnumValues lists the known roles (see Enumerated).
func (Role) EnumValues() []string {
	return []string{string(RoleConsumer), string(RoleSeller), string(RoleOperator)}
}

// signupRoles are the roles an account can sign up with (Role.Valid).
var signupRoles = []string{string(RoleConsumer), string(RoleSeller)}

// OperatorUserID is the subject of operator tokens (a UUID, like every user id).
const OperatorUserID = "00000000-0000-0000-0000-000000000000"

// OperatorTokenTTL bounds an operator token's life: one tool run.
const OperatorTokenTTL = 5 * time.Minute

// Principal is the authenticated end user as every service sees it after verifying an access
// token. It comes from the token's claims, never from a request body.
type Principal struct {
	UserID      string `json:"user_id"`
	Role        Role   `json:"role"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
}

// Access tokens are JWTs signed with Ed25519 (alg EdDSA), with a kid header naming the key in
// AuthKeys and these claims: iss (AccessTokenIssuer), sub (user id), role, email, name, iat,
// exp, jti.
const (
	AccessTokenIssuer = "moa-auth"
	AccessTokenTTL    = 15 * time.Minute
	// RefreshTokenTTL bounds a session's life without use; each refresh starts a new period.
	RefreshTokenTTL = 30 * 24 * time.Hour
)

// Input limits, part of the contract so that forms and non-Go callers can check early.
const (
	MaxEmailLen       = 254
	MinPasswordLen    = 8
	MaxPasswordLen    = 256 // bytes; bounds the work an attacker can make one login cost
	MaxDisplayNameLen = 64  // characters
)

// Auth endpoints. Signup and login run argon2id, which is deliberately slow, hence the longer
// deadlines.
var (
	AuthSignup = Endpoint[SignupRequest, User]{Service: AuthService, Name: "signup", Access: AccessAnonymous, Timeout: 10 * time.Second,
		Description: "create an account (consumer or seller)"}
	AuthLogin = Endpoint[LoginRequest, Session]{Service: AuthService, Name: "login", Access: AccessAnonymous, Timeout: 10 * time.Second,
		Description: "exchange email and password for an access token and a refresh token"}
	AuthRefresh = Endpoint[RefreshRequest, Session]{Service: AuthService, Name: "refresh", Access: AccessAnonymous,
		Description: "exchange a refresh token for a new pair; the old refresh token stops working"}
	AuthLogout = Endpoint[LogoutRequest, Empty]{Service: AuthService, Name: "logout", Access: AccessAnonymous, Idempotent: true,
		Description: "end the session of a refresh token (or every session of its user)"}
	AuthMe = Endpoint[Empty, User]{Service: AuthService, Name: "me", Access: AccessSignedIn, Idempotent: true,
		Description: "the account of the caller's access token"}
	AuthKeys = Endpoint[Empty, KeySet]{Service: AuthService, Name: "keys", Access: AccessInternal, Idempotent: true,
		Description: "public keys that verify access tokens (JWKS)"}
	AuthOperatorToken = Endpoint[OperatorTokenRequest, OperatorToken]{Service: AuthService, Name: "operator_token", Access: AccessInternal,
		Description: "operator: exchange the operator secret for a short-lived operator access token (internal bus only)"}
)

// OperatorTokenRequest presents the auth service's operator secret (MOA_AUTH_OPERATOR_SECRET).
type OperatorTokenRequest struct {
	Secret string `json:"secret"`
}

// Validate requires a secret of bounded size.
func (r OperatorTokenRequest) Validate() error {
	if r.Secret == "" || len(r.Secret) > maxOperatorSecretLen {
		return ErrValidation.OnField("secret", "secret is required (at most %d bytes)", maxOperatorSecretLen)
	}
	return nil
}

// Rules states Validate's rules (see Rules).
func (OperatorTokenRequest) Rules() Rules {
	return Rules{Fields: fields("secret", Rule{MinLength: 1, MaxLength: maxOperatorSecretLen, MaxBytes: maxOperatorSecretLen})}
}

// maxOperatorSecretLen bounds OperatorTokenRequest.Secret, in bytes.
const maxOperatorSecretLen = 512

// OperatorToken is an access token with RoleOperator.
type OperatorToken struct {
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// User is an account as the auth service shows it to its owner.
type User struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Role        Role      `json:"role"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

// Principal returns the user as a principal.
func (u User) Principal() Principal {
	return Principal{UserID: u.ID, Role: u.Role, Email: u.Email, DisplayName: u.DisplayName}
}

// SignupRequest creates an account. Email is normalised (trimmed, lower-cased) and unique.
type SignupRequest struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	Role        Role   `json:"role"`
	DisplayName string `json:"display_name"`
}

// Validate checks every field; the first failure names its field.
func (r SignupRequest) Validate() error {
	if _, err := NormalizeEmail(r.Email); err != nil {
		return err
	}
	if err := checkPassword(r.Password, true); err != nil {
		return err
	}
	if !r.Role.Valid() {
		return ErrValidation.OnField("role", "role must be %q, %q or %q", RoleConsumer, RoleSeller, RoleWriter)
	}
	if _, err := NormalizeDisplayName(r.DisplayName); err != nil {
		return err
	}
	return nil
}

// Rules states Validate's rules (see Rules). The email format is the outer bound: the
// service also refuses look-alike and unusual addresses (NormalizeEmail), and trims and
// lower-cases the rest. The password policy beyond the schema is in x-moa-checks.
func (SignupRequest) Rules() Rules {
	return Rules{Checks: []Check{{Field: "password", Rule: "not one character repeated, not on the service's list of common passwords (compared case-insensitively)"}},
		Fields: fields(
			"email", ruleEmail,
			"password", Rule{MinLength: MinPasswordLen, MaxLength: MaxPasswordLen, MaxBytes: MaxPasswordLen, Pattern: PatternNotBlank, Example: "correct horse battery"},
			"role", Rule{Enum: signupRoles},
			"display_name", Rule{MinLength: 1, MaxLength: MaxDisplayNameLen, Pattern: PatternLine, Example: "Mina"},
		)}
}

// LoginRequest asks for a session. An unknown email and a wrong password give the same error.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// ClientAddr is the address the login came from, which failed logins are throttled by.
	// The edge sets it (replacing whatever a client sent); callers on the internal bus may
	// leave it empty and share one count per account.
	ClientAddr string `json:"client_addr,omitempty"`
}

// MaxClientAddrLen bounds LoginRequest.ClientAddr (an IPv6 address with a zone fits).
const MaxClientAddrLen = 64

// Validate checks the shape only: the password policy is not applied at login, so that a
// policy change never locks out existing accounts.
func (r LoginRequest) Validate() error {
	if _, err := NormalizeEmail(r.Email); err != nil {
		return err
	}
	if len(r.ClientAddr) > MaxClientAddrLen {
		return ErrValidation.OnField("client_addr", "client_addr is longer than %d bytes", MaxClientAddrLen)
	}
	return checkPassword(r.Password, false)
}

// Rules states Validate's rules (see Rules).
func (LoginRequest) Rules() Rules {
	return Rules{Fields: fields(
		"email", ruleEmail,
		"password", Rule{MinLength: 1, MaxLength: MaxPasswordLen, MaxBytes: MaxPasswordLen, Example: "correct horse battery"},
		"client_addr", Rule{MaxLength: MaxClientAddrLen, MaxBytes: MaxClientAddrLen},
	)}
}

// ruleRefreshToken is a refresh token: opaque, not blank.
var ruleRefreshToken = Rule{MinLength: 1, Pattern: PatternNotBlank, Example: "rt_1"}

// RefreshRequest exchanges a refresh token for a new session pair.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Validate requires a token.
func (r RefreshRequest) Validate() error {
	if strings.TrimSpace(r.RefreshToken) == "" {
		return ErrValidation.OnField("refresh_token", "refresh_token is required")
	}
	return nil
}

// Rules states Validate's rules (see Rules).
func (RefreshRequest) Rules() Rules { return Rules{Fields: fields("refresh_token", ruleRefreshToken)} }

// LogoutRequest ends the session the refresh token belongs to. AllSessions ends every session
// of the token's user (log out everywhere).
type LogoutRequest struct {
	RefreshToken string `json:"refresh_token"`
	AllSessions  bool   `json:"all_sessions,omitempty"`
}

// Validate requires a token.
func (r LogoutRequest) Validate() error {
	if strings.TrimSpace(r.RefreshToken) == "" {
		return ErrValidation.OnField("refresh_token", "refresh_token is required")
	}
	return nil
}

// Rules states Validate's rules (see Rules).
func (LogoutRequest) Rules() Rules { return Rules{Fields: fields("refresh_token", ruleRefreshToken)} }

// Session is what login and refresh return. The refresh token is opaque; keep it secret and
// send it back only to AuthRefresh and AuthLogout.
type Session struct {
	AccessToken      string    `json:"access_token"`
	TokenType        string    `json:"token_type"` // always "Bearer"
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	User             User      `json:"user"`
}

// KeySet is a JSON Web Key Set (RFC 7517) of Ed25519 public keys (RFC 8037). It holds the
// current signing key and every retired key whose tokens may not have expired yet.
type KeySet struct {
	Keys []JWK `json:"keys"`
}

// JWK is one public key: kty "OKP", crv "Ed25519", alg "EdDSA", use "sig", x the base64url
// (unpadded) raw 32-byte public key.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	X   string `json:"x"`
}

// UserSignedUp is emitted once per new account, keyed by user id.
type UserSignedUp struct {
	UserID      string `json:"user_id"`
	Email       string `json:"email"`
	Role        Role   `json:"role"`
	DisplayName string `json:"display_name"`
}

// AuthUserSignedUp is evt.auth.user_signed_up.<user_id>.
var AuthUserSignedUp = Event[UserSignedUp]{Stream: StreamAuth, Domain: "auth", Name: "user_signed_up", Version: 1}

func init() {
	register(AuthSignup, AuthLogin, AuthRefresh, AuthLogout, AuthMe, AuthKeys, AuthOperatorToken, AuthUserSignedUp)
}

// NormalizeEmail trims, NFKC-normalises and lower-cases an address and checks it is a plain
// addr-spec (local@domain, no display name or comments, a dot in the domain) that cannot pass
// for another (no invisible characters, one script per part: see lookAlike). Lower-casing the
// local part is a deliberate simplification: two accounts differing only in case would confuse
// people more than it would help anyone.
func NormalizeEmail(s string) (string, error) {
	e := foldEmail(s)
	switch {
	case e == "":
		return "", ErrValidation.OnField("email", "email is required")
	case len(e) > MaxEmailLen:
		return "", ErrValidation.OnField("email", "email is longer than %d bytes", MaxEmailLen)
	case !utf8.ValidString(e) || strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "", ErrValidation.OnField("email", "email contains spaces or control characters")
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || len(local) > 64 || strings.Contains(domain, "@") ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") {
		return "", ErrValidation.OnField("email", "email is not a valid address")
	}
	if why := lookAlike(local, domain); why != "" {
		return "", ErrValidation.OnField("email", "%s", why)
	}
	if a, err := mail.ParseAddress(e); err != nil || a.Address != e || a.Name != "" {
		return "", ErrValidation.OnField("email", "email is not a valid address")
	}
	return e, nil
}

// NormalizeDisplayName trims a display name and checks its length and characters.
func NormalizeDisplayName(s string) (string, error) {
	n := strings.TrimSpace(s)
	switch {
	case n == "":
		return "", ErrValidation.OnField("display_name", "display_name is required")
	case !utf8.ValidString(n):
		return "", ErrValidation.OnField("display_name", "display_name is not valid UTF-8")
	case utf8.RuneCountInString(n) > MaxDisplayNameLen:
		return "", ErrValidation.OnField("display_name", "display_name is longer than %d characters", MaxDisplayNameLen)
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return "", ErrValidation.OnField("display_name", "display_name contains control characters")
	}
	return n, nil
}

// checkPassword applies the length policy (policy=true at signup) or only presence and the
// upper bound (at login).
func checkPassword(p string, policy bool) error {
	switch {
	case p == "":
		return ErrValidation.OnField("password", "password is required")
	case len(p) > MaxPasswordLen:
		return ErrValidation.OnField("password", "password is longer than %d bytes", MaxPasswordLen)
	case policy && utf8.RuneCountInString(p) < MinPasswordLen:
		return ErrValidation.OnField("password", "password must have at least %d characters", MinPasswordLen)
	case policy && strings.TrimFunc(p, unicode.IsSpace) == "":
		return ErrValidation.OnField("password", "password must not be only spaces")
	}
	return nil
}
