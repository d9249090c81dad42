-- The journal keeps the update_mask of UPDATE items, so that a batch can be
-- rebuilt from the journal alone (a lost batch, a crash before its POST).
ALTER TABLE batch_items ADD COLUMN update_mask jsonb;

-- A run may be finished later by `pinsync poll`, which recounts it.
CREATE INDEX batch_items_status_idx ON batch_items (batch_pk) WHERE status IS NULL;

-- A batch planned but never confirmed sent (the process died around its
-- POST) is "abandoned" once recovered: the items Pinterest shows applied are
-- recorded as SUCCESS, the others stay dirty for the next run.
ALTER TABLE batches DROP CONSTRAINT batches_state_check;
ALTER TABLE batches ADD CONSTRAINT batches_state_check
    CHECK (state IN ('planned', 'sent', 'completed', 'failed', 'lost', 'abandoned'));
