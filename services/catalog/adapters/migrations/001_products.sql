-- Products. Text search reads two generated columns: search_tsv (full text with the `simple`
-- configuration: no stemming, so any language's words match as written) and search_text (the
-- same text lower-cased, for substring and trigram matching: prefixes such as "넷플", words
-- inside compounds, typos).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- array_to_string is only STABLE; over text[] it is immutable in fact, and generated columns
-- need an immutable function.
CREATE FUNCTION catalog_tags_text(tags text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_to_string(tags, ' ') $$;

CREATE TABLE products (
    id             uuid PRIMARY KEY,
    seller_id      text NOT NULL,
    title          text NOT NULL,
    description    text NOT NULL DEFAULT '',
    price_amount   bigint NOT NULL CHECK (price_amount >= 0),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    billing_period text NOT NULL CHECK (billing_period IN ('weekly', 'monthly', 'quarterly', 'yearly')),
    terms          text NOT NULL,
    terms_version  integer NOT NULL DEFAULT 1 CHECK (terms_version >= 1),
    capacity       integer NOT NULL CHECK (capacity >= 1),
    -- Seats are reserved and released by the subscription saga through events; the CHECK is the
    -- last line against overselling whatever the code above it does.
    seats_taken    integer NOT NULL DEFAULT 0 CHECK (seats_taken >= 0 AND seats_taken <= capacity),
    tags           text[] NOT NULL DEFAULT '{}',
    image_urls     text[] NOT NULL DEFAULT '{}',
    views          bigint NOT NULL DEFAULT 0 CHECK (views >= 0),
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz,
    search_text    text GENERATED ALWAYS AS (lower(title || ' ' || catalog_tags_text(tags) || ' ' || description)) STORED,
    search_tsv     tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A') ||
        setweight(to_tsvector('simple'::regconfig, catalog_tags_text(tags)), 'B') ||
        setweight(to_tsvector('simple'::regconfig, description), 'C')) STORED
);

-- One index per sort, each ending in id like the ORDER BY, so a keyset page is an index range.
CREATE INDEX products_newest ON products (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX products_price ON products (price_amount, id) WHERE deleted_at IS NULL;
CREATE INDEX products_popular ON products (views DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX products_seller ON products (seller_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX products_tags ON products USING gin (tags);
CREATE INDEX products_tsv ON products USING gin (search_tsv);
CREATE INDEX products_trgm ON products USING gin (search_text gin_trgm_ops);

---- create above / drop below ----

DROP TABLE products;
DROP FUNCTION catalog_tags_text(text[]);
