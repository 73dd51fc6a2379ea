-- Payment steps: at most one charge and one refund per saga, whatever is redelivered or
-- re-emitted. The UNIQUE constraint, not the code, is what makes a second charge impossible.
CREATE TABLE payments (
    id              uuid PRIMARY KEY,
    subscription_id text NOT NULL,
    step            text NOT NULL CHECK (step IN ('charge', 'refund')),
    product_id      text NOT NULL,
    consumer_id     text NOT NULL DEFAULT '',
    seller_id       text NOT NULL DEFAULT '',
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'UNKNOWN')),
    provider_ref    text NOT NULL DEFAULT '',
    failure_code    text NOT NULL DEFAULT '',
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT payments_one_per_step UNIQUE (subscription_id, step)
);

-- The simulated payment provider's own books. Only the simulated provider reads and writes
-- them, each call in a transaction of its own, as an outside system would: billing's
-- transactions rolling back do not undo a charge recorded here. Here every call is a row;
-- 002 makes the key unique (the provider is idempotent per key: a resend finds the first row).
CREATE TABLE sim_provider_ledger (
    id              bigserial PRIMARY KEY,
    idempotency_key text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_minor    bigint NOT NULL,
    currency        text NOT NULL,
    succeeded       boolean NOT NULL,
    failure_code    text NOT NULL DEFAULT '',
    ref             text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sim_provider_ledger_key ON sim_provider_ledger (idempotency_key, id);

---- create above / drop below ----

DROP TABLE sim_provider_ledger;
DROP TABLE payments;
