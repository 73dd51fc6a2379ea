-- The payout history and balances: a projection of the PAYOUT stream (the ledgers), rebuilt
-- from it by replay. Every row remembers the stream sequence it was last written from, so a
-- replay racing the live consumer never puts an older state over a newer one.
CREATE TABLE payout_history (
    payout_id    uuid PRIMARY KEY,
    seller_id    uuid NOT NULL,
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    status       text NOT NULL,
    bank_ref     text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    seq          bigint NOT NULL
);
-- Keyset paging of one seller's payouts, newest first.
CREATE INDEX payout_history_seller ON payout_history (seller_id, requested_at DESC, payout_id DESC);
-- The scheduler's pending payouts to resume.
CREATE INDEX payout_history_pending ON payout_history (requested_at) WHERE status = 'PENDING';

-- Each seller's balance per currency, for the scheduler to find whom to pay.
CREATE TABLE payout_balances (
    seller_id    uuid NOT NULL,
    currency     text NOT NULL,
    amount_minor bigint NOT NULL,
    seq          bigint NOT NULL,
    PRIMARY KEY (seller_id, currency)
);

-- The last ledger sequence the projection applied, one row.
CREATE TABLE payout_projection (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint NOT NULL
);
INSERT INTO payout_projection (seq) VALUES (0);
