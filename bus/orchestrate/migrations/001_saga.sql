-- Orchestrated sagas: one row per saga instance, rewritten after every transition, so that an
-- orchestrator that crashes is resumed by another from the last persisted step.
--
-- status is running, compensating, completed, compensated or failed. step is, while running,
-- the index of the next step to run; while compensating, the number of steps still to undo
-- (the next compensation is step-1). lease_owner/lease_until say which orchestrator drives the
-- saga and until when: another takes it over only once the lease has passed. A finished saga
-- keeps lease_owner (who finished it) and has no lease_until.
CREATE TABLE IF NOT EXISTS moa_saga (
    saga          text        NOT NULL,
    id            text        NOT NULL,
    status        text        NOT NULL,
    step          integer     NOT NULL DEFAULT 0,
    state         jsonb       NOT NULL,
    error_code    text,
    error         text,
    failure       text,
    lease_owner   text,
    lease_until   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (saga, id)
);

-- What the orchestrators scan: the unfinished sagas only.
CREATE INDEX IF NOT EXISTS moa_saga_unfinished ON moa_saga (saga, updated_at)
    WHERE status IN ('running', 'compensating');
