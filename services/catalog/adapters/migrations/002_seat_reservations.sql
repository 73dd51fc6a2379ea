-- Seat reservations of the subscription saga, one per subscription, so that reserving and
-- releasing are idempotent whatever is redelivered or re-emitted: a second request for the
-- same subscription finds its row and answers with the same outcome instead of taking another
-- seat. A cancellation that arrives before its request leaves a 'released' row (a tombstone),
-- so the late request takes no seat.
CREATE TABLE seat_reservations (
    subscription_id text PRIMARY KEY,
    product_id      uuid NOT NULL,
    state           text NOT NULL CHECK (state IN ('reserving', 'reserved', 'unavailable', 'released')),
    reason          text NOT NULL DEFAULT '',
    -- The saga's snapshot, re-sent with a re-emitted seat_reserved.
    consumer_id     text NOT NULL DEFAULT '',
    seller_id       text NOT NULL DEFAULT '',
    amount_minor    bigint NOT NULL DEFAULT 0,
    currency        text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seat_reservations_product ON seat_reservations (product_id) WHERE state = 'reserved';

---- create above / drop below ----

DROP TABLE seat_reservations;
