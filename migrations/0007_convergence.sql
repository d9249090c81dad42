-- Convergence (issue "Convergence"): every item sent ends accepted, rejected
-- or pending, and the operations follow what Pinterest really holds.

-- Catalog ownership. Pinterest refuses UPSERT on a catalog that has a feed
-- data source ("The item UPSERT operation is restricted to users without a
-- feed data source"), so pinsync asks (GET /catalogs/feeds?catalog_id=) and
-- keeps the answer here: feed_source NULL means never checked, or the check
-- failed. api_owned becomes an override of that check: NULL follows it.
-- Until now api_owned was false unless someone said yes, so false was the
-- default, not a choice: it becomes NULL; an explicit yes stays.
ALTER TABLE targets
    ADD COLUMN feed_source boolean,
    ADD COLUMN feed_source_checked_at timestamptz,
    ALTER COLUMN api_owned DROP NOT NULL,
    ALTER COLUMN api_owned DROP DEFAULT;
UPDATE targets SET api_owned = NULL WHERE api_owned IS FALSE;

-- Per run: items sent without a verdict (pending: kept dirty, sent again by
-- the next run), and the drift found by the read-back sample (items that
-- differ on Pinterest from the snapshot: repaired by the run itself).
ALTER TABLE runs
    ADD COLUMN pending bigint NOT NULL DEFAULT 0,
    ADD COLUMN drift_checked integer NOT NULL DEFAULT 0,
    ADD COLUMN drift integer NOT NULL DEFAULT 0;

-- A batch refused whole (HTTP 400 or 413) is split in halves that go out as
-- batches of their own: the refused one ends 'split'.
ALTER TABLE batches DROP CONSTRAINT batches_state_check;
ALTER TABLE batches ADD CONSTRAINT batches_state_check
    CHECK (state IN ('planned', 'sent', 'completed', 'failed', 'lost', 'abandoned', 'split'));

-- A failure that pinsync followed up: it read the item back, found that
-- Pinterest's state differs from the snapshot (an item that exists already,
-- one that is gone), and acted. resolution says what it did; the failure is
-- then not the item's verdict (the later batch's result, or the next run's,
-- is). NULL: the row is the verdict.
ALTER TABLE batch_results ADD COLUMN resolution text;

-- An item new to the snapshot: on a catalog without a feed data source it
-- goes out as UPSERT, and still counts as created.
ALTER TABLE batch_items ADD COLUMN is_new boolean NOT NULL DEFAULT false;

CREATE OR REPLACE VIEW batch_item_results AS
    SELECT bi.batch_pk, b.run_id, b.target_id, bi.item_id, bi.operation, bi.hash,
           CASE WHEN r.item_id IS NOT NULL THEN r.status
                WHEN b.results_recorded THEN 'SUCCESS' END AS status,
           r.errors, r.warnings, r.resolution, bi.is_new
    FROM batch_items bi
    JOIN batches b ON b.id = bi.batch_pk
    LEFT JOIN batch_results r ON r.batch_pk = bi.batch_pk AND r.item_id = bi.item_id;

-- Serve mode can reconcile every target on a schedule of its own
-- (PINSYNC_RECONCILE_EVERY_S): a job of trigger 'reconcile', queued when
-- next_reconcile_at has passed.
ALTER TABLE targets ADD COLUMN next_reconcile_at timestamptz;
ALTER TABLE jobs DROP CONSTRAINT jobs_trigger_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_trigger_check
    CHECK (trigger IN ('webhook', 'schedule', 'manual', 'reconcile'));
