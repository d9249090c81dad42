-- A narrow journal and snapshot (issue "Performance", target 6).
--
-- Until now every item's attributes were written three times per sync: into
-- the journal (batch_items.attributes, jsonb), again when its result was
-- recorded (an UPDATE of that wide row) and into the snapshot. At 1M items
-- that was 4-5 GB of heap and WAL and 70 s of SQL. Now:
--   * the request body of a batch is stored once, as the text that was sent
--     (batches.body), which is what a lost batch is rebuilt from;
--   * batch_items keeps one narrow row per item (id, operation, hash,
--     fingerprint, update_mask), written once and never updated;
--   * Pinterest's per-item results are recorded by exception: once a batch's
--     results are in (batches.results_recorded), an item without a row in
--     batch_results succeeded; the others (failures, skips, items Pinterest
--     did not report, successes with warnings) have one;
--   * the row-level foreign keys of the three tables written per item are
--     replaced by statement-level cascades: their rows are only ever
--     written by db/batches.c, in the transaction that holds the parent
--     row, and a per-row key check cost as much as the insert itself;
--   * the snapshot keeps, instead of the attributes, their fingerprint:
--     one 8-byte entry per attribute (32-bit hash of its name, 32-bit hash
--     of its value; see sync/changes.h), enough to tell which attributes
--     changed and to name them in an UPDATE's update_mask.
-- A row with no fingerprint (those written before this migration, items
-- marked out of stock) is sent whole (UPSERT) the next time it changes.

ALTER TABLE batches
    ADD COLUMN body text,
    ADD COLUMN results_recorded boolean NOT NULL DEFAULT false;
-- lz4 where the server has it (an order of magnitude faster than pglz for
-- these megabyte-sized bodies); the default compression otherwise.
DO $$
BEGIN
    ALTER TABLE batches ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;

-- status NULL: Pinterest reported nothing for the item.
CREATE TABLE batch_results (
    batch_pk        bigint NOT NULL,
    item_id         text NOT NULL,
    status          text CHECK (status IN ('SUCCESS', 'FAILURE', 'PROCESSING', 'SKIPPED')),
    errors          jsonb,
    warnings        jsonb,
    PRIMARY KEY (batch_pk, item_id)
);

-- The journal so far, moved to the new shape.
UPDATE batches b SET body = (
    SELECT jsonb_build_object('catalog_type', 'RETAIL', 'catalog_id', t.catalog_id,
           'country', t.country, 'language', t.language, 'items', (
             SELECT jsonb_agg(CASE bi.operation
               WHEN 'DELETE' THEN jsonb_build_object('operation', 'DELETE',
                 'item_id', bi.item_id)
               WHEN 'UPDATE' THEN jsonb_build_object('operation', 'UPDATE',
                 'item_id', bi.item_id, 'attributes', coalesce(bi.attributes, '{}'::jsonb),
                 'update_mask', bi.update_mask)
               ELSE jsonb_build_object('operation', bi.operation, 'item_id', bi.item_id,
                 'attributes', bi.attributes) END ORDER BY bi.item_id)
             FROM batch_items bi WHERE bi.batch_pk = b.id))::text
    FROM targets t WHERE t.id = b.target_id),
    results_recorded = b.state = 'completed'
        OR EXISTS (SELECT 1 FROM batch_items bi WHERE bi.batch_pk = b.id
                   AND bi.status IS NOT NULL);
INSERT INTO batch_results (batch_pk, item_id, status, errors, warnings)
    SELECT bi.batch_pk, bi.item_id, bi.status, bi.errors, bi.warnings
    FROM batch_items bi JOIN batches b ON b.id = bi.batch_pk
    WHERE b.results_recorded AND (bi.status IS DISTINCT FROM 'SUCCESS'
          OR coalesce(bi.warnings, '[]') <> '[]' OR coalesce(bi.errors, '[]') <> '[]');

DROP INDEX batch_items_status_idx;
ALTER TABLE batch_items
    DROP CONSTRAINT batch_items_batch_pk_fkey,
    DROP COLUMN attributes,
    DROP COLUMN status,
    DROP COLUMN errors,
    DROP COLUMN warnings,
    ADD COLUMN fp bytea;

ALTER TABLE snapshot_items
    DROP CONSTRAINT snapshot_items_target_id_fkey,
    DROP COLUMN attributes,
    ADD COLUMN fp bytea;

-- The cascades the foreign keys gave, one statement at a time.
CREATE FUNCTION pinsync_batches_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM batch_items bi USING gone g WHERE bi.batch_pk = g.id;
    DELETE FROM batch_results r USING gone g WHERE r.batch_pk = g.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER batches_deleted AFTER DELETE ON batches
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION pinsync_batches_deleted();

CREATE FUNCTION pinsync_targets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM snapshot_items s USING gone g WHERE s.target_id = g.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER targets_deleted AFTER DELETE ON targets
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION pinsync_targets_deleted();

-- Every journaled item with its result (status NULL: none yet, or none
-- reported), for reports and for people reading the database.
CREATE VIEW batch_item_results AS
    SELECT bi.batch_pk, b.run_id, b.target_id, bi.item_id, bi.operation, bi.hash,
           CASE WHEN r.item_id IS NOT NULL THEN r.status
                WHEN b.results_recorded THEN 'SUCCESS' END AS status,
           r.errors, r.warnings
    FROM batch_items bi
    JOIN batches b ON b.id = bi.batch_pk
    LEFT JOIN batch_results r ON r.batch_pk = bi.batch_pk AND r.item_id = bi.item_id;
