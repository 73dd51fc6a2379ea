-- The simulated provider is idempotent per key, as real gateways are: a request sent again
-- under a key it already has (billing resending a charge whose first attempt timed out and may
-- still land) is answered with the first record and never booked twice. The key is unique.
DROP INDEX sim_provider_ledger_key;
CREATE UNIQUE INDEX sim_provider_ledger_key ON sim_provider_ledger (idempotency_key);

---- create above / drop below ----

DROP INDEX sim_provider_ledger_key;
CREATE INDEX sim_provider_ledger_key ON sim_provider_ledger (idempotency_key, id);
