-- Subscriptions: the saga's aggregate. The state column is the semantic lock: every change is an
-- UPDATE ... WHERE state = <the state the change was decided on>, so a transition decided on
-- a stale read changes nothing.
CREATE TABLE subscriptions (
    id              uuid PRIMARY KEY,
    product_id      text NOT NULL,
    consumer_id     text NOT NULL,
    seller_id       text NOT NULL,
    state           text NOT NULL CHECK (state IN ('PENDING', 'ACTIVE', 'CANCELLING', 'CANCELLED')),
    price_minor     bigint NOT NULL CHECK (price_minor >= 0),
    currency        text NOT NULL,
    billing_period  text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    idempotency_key text,
    charged_minor   bigint NOT NULL DEFAULT 0 CHECK (charged_minor >= 0),
    refund_minor    bigint NOT NULL DEFAULT 0 CHECK (refund_minor >= 0),
    was_active      boolean NOT NULL DEFAULT false,
    refund_done     boolean NOT NULL DEFAULT false,
    seat_released   boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    activated_at    timestamptz,
    active_until    timestamptz,
    -- The sweeper re-emits a saga's current step when it has not moved since nudged_at.
    nudges          integer NOT NULL DEFAULT 0,
    nudged_at       timestamptz NOT NULL
);

-- A retried subscribe with the same key finds the first one.
CREATE UNIQUE INDEX subscriptions_idempotency ON subscriptions (consumer_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- One live subscription per consumer and product.
CREATE UNIQUE INDEX subscriptions_live ON subscriptions (consumer_id, product_id) WHERE state IN ('PENDING', 'ACTIVE', 'CANCELLING');
CREATE INDEX subscriptions_consumer ON subscriptions (consumer_id, created_at DESC);
CREATE INDEX subscriptions_product_active ON subscriptions (product_id, consumer_id) WHERE state = 'ACTIVE';
CREATE INDEX subscriptions_to_sweep ON subscriptions (nudged_at) WHERE state IN ('PENDING', 'CANCELLING');
CREATE INDEX subscriptions_in_progress ON subscriptions (updated_at) WHERE state IN ('PENDING', 'CANCELLING');

-- The sellers' dashboard: a projection fed by events, never written by commands.
CREATE TABLE dashboard (
    product_id         text PRIMARY KEY,
    seller_id          text NOT NULL DEFAULT '',
    currency           text NOT NULL DEFAULT '',
    active_subscribers bigint NOT NULL DEFAULT 0,
    revenue_minor      bigint NOT NULL DEFAULT 0,
    churned            bigint NOT NULL DEFAULT 0,
    failed             bigint NOT NULL DEFAULT 0
);
CREATE INDEX dashboard_seller ON dashboard (seller_id, product_id);

-- What the projection has counted, by business fact rather than event id: a step re-emitted
-- by a sweeper (a new event with a new id) is still counted once, and a replay from the
-- streams counts each fact once whatever order the two streams interleave in.
CREATE TABLE dashboard_facts (
    subscription_id text NOT NULL,
    fact            text NOT NULL CHECK (fact IN ('activated', 'cancelled', 'charged', 'refunded')),
    PRIMARY KEY (subscription_id, fact)
);

---- create above / drop below ----

DROP TABLE dashboard_facts;
DROP TABLE dashboard;
DROP TABLE subscriptions;
