-- Per-target policies and feed options (issues: client, feeds, reliability,
-- serve mode). Defaults keep the behaviour of 0001.

ALTER TABLE targets
    -- What to do with an item that left the feed.
    ADD COLUMN on_missing text NOT NULL DEFAULT 'delete'
        CHECK (on_missing IN ('delete', 'out-of-stock', 'keep')),
    -- Delete guard: a run deleting more than this share of the catalog holds
    -- its deletes back (invariant 3).
    ADD COLUMN max_delete_ratio double precision NOT NULL DEFAULT 0.2
        CHECK (max_delete_ratio >= 0 AND max_delete_ratio <= 1),
    -- The catalog is fed only through the API: new items go out as UPSERT.
    ADD COLUMN api_owned boolean NOT NULL DEFAULT false,
    -- Feed mapping: a mapping file, a preset for store exports, the base URL
    -- for relative links, the currency for prices without one.
    ADD COLUMN map_file text,
    ADD COLUMN preset text,
    ADD COLUMN base_url text,
    ADD COLUMN currency text CHECK (currency ~ '^[A-Z]{3}$'),
    -- Serve mode: sync every schedule_s seconds; the webhook secret's file.
    ADD COLUMN schedule_s integer CHECK (schedule_s > 0),
    ADD COLUMN webhook_secret_file text,
    -- Conditional GET of URL feeds: validators of the last feed read to its
    -- end in a successful run.
    ADD COLUMN source_etag text,
    ADD COLUMN source_last_modified text;

ALTER TABLE runs DROP CONSTRAINT runs_outcome_check;
ALTER TABLE runs ADD CONSTRAINT runs_outcome_check
    CHECK (outcome IN ('running', 'ok', 'partial', 'failed', 'held', 'interrupted',
                       'unchanged'));
ALTER TABLE runs
    ADD COLUMN retries integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_wait_s double precision NOT NULL DEFAULT 0,
    ADD COLUMN feed_bytes bigint NOT NULL DEFAULT 0;
