-- Login attempts per (account email, client address) and per account (addr '*'): see
-- domain.LoginPolicy. Replaces the per-account window, which let anyone lock an owner out.
DROP TABLE login_attempts;

CREATE TABLE login_throttle (
    email    text NOT NULL,
    addr     text NOT NULL,
    attempts int NOT NULL,
    last_at  timestamptz NOT NULL,
    PRIMARY KEY (email, addr)
);
CREATE INDEX login_throttle_last_idx ON login_throttle (last_at);
