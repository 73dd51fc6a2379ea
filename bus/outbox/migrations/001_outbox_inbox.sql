-- The transactional outbox: one row per event, written in the transaction of the state change
-- that produced it. A row is unpublished while published_at is null; the relay never tracks an
-- offset (ids are allocated before commit, so they commit out of order), it always selects the
-- unpublished rows.
CREATE TABLE IF NOT EXISTS moa_outbox (
    id           bigserial   PRIMARY KEY,
    event_id     text        NOT NULL UNIQUE,
    subject      text        NOT NULL,
    envelope     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

-- What the relay scans: small, because published rows leave it.
CREATE INDEX IF NOT EXISTS moa_outbox_unpublished ON moa_outbox (id) WHERE published_at IS NULL;
-- What retention deletes.
CREATE INDEX IF NOT EXISTS moa_outbox_published_at ON moa_outbox (published_at) WHERE published_at IS NOT NULL;

-- The idempotent inbox: one row per (consumer, event) whose effect committed, written in the
-- effect's transaction.
CREATE TABLE IF NOT EXISTS moa_inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX IF NOT EXISTS moa_inbox_processed_at ON moa_inbox (processed_at);
