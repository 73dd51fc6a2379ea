-- Each user's latest notification sequence. A notification's transaction increments it and
-- holds the row lock until commit, so one user's notifications commit in sequence order and a
-- sequence is never skipped (a rolled-back increment is undone with its notification).
CREATE TABLE user_seq (
    user_id  text   PRIMARY KEY,
    last_seq bigint NOT NULL CHECK (last_seq > 0)
);

-- Stored notifications: the retained ones are always a contiguous run of a user's sequences
-- ending at user_seq.last_seq (pruning only ever removes a user's oldest ones).
CREATE TABLE notifications (
    user_id    text        NOT NULL,
    seq        bigint      NOT NULL,
    kind       text        NOT NULL,
    title      text        NOT NULL,
    body       text        NOT NULL,
    data       jsonb,
    -- What the notification is about (event and role): one per user, even if an event comes
    -- twice under two ids.
    dedup_key  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz,
    PRIMARY KEY (user_id, seq),
    UNIQUE (user_id, dedup_key)
);

CREATE INDEX notifications_unread ON notifications (user_id, seq) WHERE read_at IS NULL;
CREATE INDEX notifications_created_at ON notifications (created_at);

-- The accounts mails are addressed to, from auth's signup events: notify never asks auth.
CREATE TABLE directory (
    user_id      text        PRIMARY KEY,
    email        text        NOT NULL,
    display_name text        NOT NULL,
    role         text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Product titles from the catalog's events, to name products in words.
CREATE TABLE products (
    product_id text   PRIMARY KEY,
    seller_id  text   NOT NULL,
    title      text   NOT NULL,
    version    bigint NOT NULL
);

-- Mails, written in the transaction of the event that causes them and sent by the sender
-- loop: one row per (event, recipient), kept after sending (the dev mailbox lists them).
CREATE TABLE mail_queue (
    id              bigserial   PRIMARY KEY,
    dedup_key       text        NOT NULL,
    user_id         text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    to_addr         text,        -- set when sent: the address it went to
    transport       text,        -- smtp | dev
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (dedup_key, user_id)
);

CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX mail_queue_user_pending ON mail_queue (user_id) WHERE status = 'pending';
CREATE INDEX mail_queue_sent_at ON mail_queue (sent_at) WHERE sent_at IS NOT NULL;
