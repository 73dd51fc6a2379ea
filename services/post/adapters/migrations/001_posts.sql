-- The blog: categories, posts and their comments. Text search reads two generated columns of
-- posts, as the catalog's does: search_tsv (full text with the `simple` configuration: no
-- stemming, so Korean and English words match as written) and search_text (the same text
-- lower-cased, for substring and trigram matching: prefixes, words inside Korean compounds,
-- typos).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- array_to_string is only STABLE; over text[] it is immutable in fact, and generated columns
-- need an immutable function.
CREATE FUNCTION post_tags_text(tags text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_to_string(tags, ' ') $$;

CREATE TABLE categories (
    slug       text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE posts (
    id             uuid PRIMARY KEY,
    author_id      text NOT NULL,
    -- The service validates slugs; the CHECK keeps anything else out whatever the code does.
    slug           text NOT NULL CHECK (slug ~ '^[a-z0-9가-힣]+(-[a-z0-9가-힣]+)*$'),
    title          text NOT NULL,
    body           text NOT NULL DEFAULT '',
    html           text NOT NULL DEFAULT '',
    body_text      text NOT NULL DEFAULT '',
    category       text REFERENCES categories (slug),
    tags           text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL CHECK (status IN ('draft', 'published')),
    cover_image_id text NOT NULL DEFAULT '',
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    published_at   timestamptz,
    deleted_at     timestamptz,
    search_text    text GENERATED ALWAYS AS (lower(title || ' ' || post_tags_text(tags) || ' ' || body_text)) STORED,
    search_tsv     tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A') ||
        setweight(to_tsvector('simple'::regconfig, post_tags_text(tags)), 'B') ||
        setweight(to_tsvector('simple'::regconfig, body_text), 'C')) STORED,
    CHECK (status = 'draft' OR published_at IS NOT NULL)
);

-- A slug names one live post; a deleted post's slug may be taken again.
CREATE UNIQUE INDEX posts_slug_key ON posts (slug) WHERE deleted_at IS NULL;
-- One index per list, each ending in id like its ORDER BY, so a keyset page is an index range.
CREATE INDEX posts_published ON posts (published_at DESC, id DESC) WHERE deleted_at IS NULL AND status = 'published';
CREATE INDEX posts_category ON posts (category, published_at DESC, id DESC) WHERE deleted_at IS NULL AND status = 'published';
CREATE INDEX posts_author ON posts (author_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX posts_tags ON posts USING gin (tags);
CREATE INDEX posts_tsv ON posts USING gin (search_tsv);
CREATE INDEX posts_trgm ON posts USING gin (search_text gin_trgm_ops);

-- Comments, one level deep: a reply's parent is a top-level comment, and thread_id is the
-- top-level comment of both (its own id for a top-level one), which orders a post's comments
-- thread by thread.
CREATE TABLE comments (
    id          uuid PRIMARY KEY,
    post_id     uuid NOT NULL REFERENCES posts (id),
    parent_id   uuid REFERENCES comments (id),
    thread_id   uuid NOT NULL,
    is_reply    boolean GENERATED ALWAYS AS (parent_id IS NOT NULL) STORED,
    author_id   text NOT NULL,
    author_name text NOT NULL DEFAULT '',
    body        text NOT NULL,
    hidden      boolean NOT NULL DEFAULT false,
    edited      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    CHECK ((parent_id IS NULL AND thread_id = id) OR thread_id = parent_id)
);
CREATE INDEX comments_thread ON comments (post_id, thread_id, is_reply, id);
CREATE INDEX comments_parent ON comments (parent_id) WHERE parent_id IS NOT NULL AND deleted_at IS NULL;

---- create above / drop below ----

DROP TABLE comments;
DROP TABLE posts;
DROP TABLE categories;
DROP FUNCTION post_tags_text(text[]);
