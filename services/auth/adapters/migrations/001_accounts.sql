-- Accounts. Emails are stored normalised (the service trims and lower-cases them), and the
-- CHECK makes sure nothing else slips in, so a plain unique index is a case-insensitive one.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CHECK (email = lower(btrim(email)) AND email <> ''),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('consumer', 'seller')),
    display_name  text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- A session is a family of refresh tokens; revoking it ends every token of the family.
CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Only the SHA-256 of a refresh token is stored.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Login throttle, per normalised email (known or not), shared by every replica.
CREATE TABLE login_attempts (
    email        text PRIMARY KEY,
    attempts     int NOT NULL,
    window_start timestamptz NOT NULL
);
CREATE INDEX login_attempts_window_idx ON login_attempts (window_start);

-- Access-token signing keys. private_key is sealed with AES-256-GCM when the service has a
-- key-encryption key (MOA_AUTH_KEY_ENCRYPTION_KEY), else stored raw ('none') and the service
-- logs a warning at start.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    private_key bytea NOT NULL,
    encryption  text NOT NULL CHECK (encryption IN ('none', 'aes-256-gcm')),
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);
-- At most one active key, whatever replicas race to create or rotate one.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;
