-- pinsync's state. Applied by `pinsync migrate` in its own transaction.

-- One sync target: a feed and the Pinterest catalog it feeds.
CREATE TABLE targets (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    feed            text NOT NULL,
    format          text NOT NULL DEFAULT 'auto'
                    CHECK (format IN ('auto', 'xml', 'csv', 'tsv')),
    catalog_id      text NOT NULL CHECK (catalog_id ~ '^[0-9]+$'),
    country         text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    language        text NOT NULL,
    ad_account_id   text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- What Pinterest accepted, per item: the content hash and the attributes
-- as sent. Changed only for items Pinterest reported SUCCESS (invariant 1).
CREATE TABLE snapshot_items (
    target_id       bigint NOT NULL REFERENCES targets ON DELETE CASCADE,
    item_id         text NOT NULL,
    hash            bigint NOT NULL,
    attributes      jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_id, item_id)
);

-- One row per sync.
CREATE TABLE runs (
    id              bigserial PRIMARY KEY,
    target_id       bigint NOT NULL REFERENCES targets ON DELETE CASCADE,
    trigger         text NOT NULL DEFAULT 'manual',
    dry_run         boolean NOT NULL DEFAULT false,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    outcome         text NOT NULL DEFAULT 'running'
                    CHECK (outcome IN ('running', 'ok', 'partial', 'failed',
                                       'held', 'interrupted')),
    error           text,
    parsed          bigint NOT NULL DEFAULT 0,
    invalid         bigint NOT NULL DEFAULT 0,
    created         bigint NOT NULL DEFAULT 0,
    updated         bigint NOT NULL DEFAULT 0,
    deleted         bigint NOT NULL DEFAULT 0,
    unchanged       bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    batches         integer NOT NULL DEFAULT 0
);
CREATE INDEX runs_target_idx ON runs (target_id, id DESC);

-- The journal: a batch is written down (planned) before it is sent, and
-- its Pinterest batch_id right after Pinterest returns it (invariant 2).
CREATE TABLE batches (
    id              bigserial PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    target_id       bigint NOT NULL REFERENCES targets ON DELETE CASCADE,
    seq             integer NOT NULL,
    state           text NOT NULL DEFAULT 'planned'
                    CHECK (state IN ('planned', 'sent', 'completed', 'failed', 'lost')),
    batch_id        text,
    item_count      integer NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    error           text,
    planned_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    finished_at     timestamptz,
    UNIQUE (run_id, seq)
);
CREATE INDEX batches_open_idx ON batches (target_id) WHERE state IN ('planned', 'sent');

-- Every item of every batch, with what was sent and what Pinterest said.
CREATE TABLE batch_items (
    batch_pk        bigint NOT NULL REFERENCES batches ON DELETE CASCADE,
    item_id         text NOT NULL,
    operation       text NOT NULL CHECK (operation IN ('CREATE', 'UPDATE', 'UPSERT', 'DELETE')),
    hash            bigint,
    attributes      jsonb,
    status          text CHECK (status IN ('SUCCESS', 'FAILURE', 'PROCESSING', 'SKIPPED')),
    errors          jsonb,
    warnings        jsonb,
    PRIMARY KEY (batch_pk, item_id)
);

-- Items refused before sending (local validation), with their place.
CREATE TABLE item_problems (
    run_id          bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    item_id         text,
    place           text NOT NULL,
    attribute       text,
    code            text NOT NULL,
    message         text NOT NULL
);
CREATE INDEX item_problems_run_idx ON item_problems (run_id);

-- OAuth tokens of the Pinterest app (one row per app).
CREATE TABLE oauth_tokens (
    client_id           text PRIMARY KEY,
    access_token        text NOT NULL,
    refresh_token       text,
    access_expires_at   timestamptz,
    refresh_expires_at  timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
