-- Per-key order across crashes (see keyorder.go). moa_outbox_key_versions numbers the events of
-- each subject (event type and key) in commit order: Emit takes the next number in the event's
-- transaction, holding the row until it commits, so numbers are gapless and a later number
-- always commits later. moa_inbox_key_versions is, per consumer, the last number applied: the
-- inbox moves it in the effect's transaction. One row per subject: they grow with the keys,
-- not with the events.
CREATE TABLE IF NOT EXISTS moa_outbox_key_versions (
    subject text   PRIMARY KEY,
    version bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS moa_inbox_key_versions (
    consumer text   NOT NULL,
    subject  text   NOT NULL,
    version  bigint NOT NULL,
    PRIMARY KEY (consumer, subject)
);
