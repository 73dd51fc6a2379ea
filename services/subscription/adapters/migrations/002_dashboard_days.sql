-- The sellers' dashboard over time: what each product gained and lost per day (UTC), on the
-- day its event occurred rather than the day it was counted, so a rebuild from the streams
-- puts every fact back on the day it had live. Counted with dashboard, under the same
-- dashboard_facts guard; facts counted before this table existed appear after a rebuild.
CREATE TABLE dashboard_days (
    product_id     text NOT NULL,
    day            date NOT NULL,
    subscribed     bigint NOT NULL DEFAULT 0, -- became active
    churned        bigint NOT NULL DEFAULT 0, -- cancelled after having been active
    failed         bigint NOT NULL DEFAULT 0, -- never became active
    charged_minor  bigint NOT NULL DEFAULT 0,
    refunded_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (product_id, day)
);

---- create above / drop below ----

DROP TABLE dashboard_days;
