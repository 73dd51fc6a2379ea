-- Dead-lettered outbox rows: a row the stream refuses for good (larger than the server's
-- max_payload or the stream's MaxMsgSize, an invalid subject) is moved aside so that the rows
-- after it flow. It stays here, with the reason, for inspection or repair (clear dead_at to
-- publish it again); its dead letter in the DLQ stream is what `moa dlq` lists.
ALTER TABLE moa_outbox ADD COLUMN IF NOT EXISTS dead_at timestamptz;
ALTER TABLE moa_outbox ADD COLUMN IF NOT EXISTS dead_error text;

-- What the relay scans: the rows still to publish, dead ones left out.
DROP INDEX IF EXISTS moa_outbox_unpublished;
CREATE INDEX IF NOT EXISTS moa_outbox_pending ON moa_outbox (id) WHERE published_at IS NULL AND dead_at IS NULL;
