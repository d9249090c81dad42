-- Totals kept as the work happens (issue "Operations at scale").
--
-- /metrics used to aggregate the whole journal at each scrape: 140-240 ms
-- of CPU at 200,000 item rows, seconds at millions. Now the figures that
-- count the journal's history are kept in metric_totals by triggers, in the
-- transaction that does the work, and a scrape reads a few rows per target
-- plus what is in flight (open batches, running runs, queued jobs: bounded
-- by the work under way, found through partial indexes). A row deleted
-- from the journal (pinsync prune) takes nothing from a total: counters
-- never go down because history was pruned.
--
-- Families (l1, l2 as the metric's labels):
--   runs (outcome), invalid, retries, retry_wait, feed_bytes, parsed:
--     from runs; a run's outcome counts once it is not 'running', its sums
--     as they are written;
--   items (operation, result): the items of batches whose results are
--     recorded, or which ended without them (then 'pending'); the items of
--     open batches are added at scrape time. batches.counted holds what a
--     batch has added, so that any later change (results recorded again,
--     a failure followed up) adds only the difference;
--   batches (state): batches by their state;
--   jobs (state): finished jobs, done or failed (a gauge of the queue: a
--     pruned job leaves it).

CREATE TABLE metric_totals (
    target_id   bigint NOT NULL REFERENCES targets ON DELETE CASCADE,
    family      text NOT NULL,
    l1          text NOT NULL DEFAULT '',
    l2          text NOT NULL DEFAULT '',
    value       double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (target_id, family, l1, l2)
);

ALTER TABLE batches ADD COLUMN counted jsonb NOT NULL DEFAULT '{}';

-- What a scrape reads live, found without a scan of the journal: the
-- running runs, and each target's latest success (which a prune keeps).
CREATE INDEX runs_running_idx ON runs (target_id) WHERE outcome = 'running';
CREATE INDEX runs_success_idx ON runs (target_id, finished_at DESC)
    WHERE outcome IN ('ok', 'unchanged');

-- Adds v to a total. Decrements go through pinsync_totals_sub, which never
-- creates a row (a target being deleted takes its rows with it).
CREATE FUNCTION pinsync_totals_add(t bigint, fam text, a text, b text, v double precision)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO metric_totals AS m (target_id, family, l1, l2, value)
    VALUES (t, fam, a, b, v)
    ON CONFLICT (target_id, family, l1, l2) DO UPDATE SET value = m.value + excluded.value
$$;

CREATE FUNCTION pinsync_totals_sub(t bigint, fam text, a text, b text, v double precision)
RETURNS void LANGUAGE sql AS $$
    UPDATE metric_totals SET value = value - v
    WHERE target_id = t AND family = fam AND l1 = a AND l2 = b
$$;

-- The items a batch counts for: {"operation/result": n}. An open batch
-- (planned or sent, results not recorded) counts for nothing here.
CREATE FUNCTION pinsync_batch_counts(pk bigint, recorded boolean, st text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb) FROM (
        SELECT lower(bi.operation) || '/' || CASE
                 WHEN r.item_id IS NOT NULL THEN CASE
                   WHEN r.status = 'FAILURE' AND r.resolution IS NOT NULL THEN 'followed_up'
                   WHEN r.status IN ('SUCCESS', 'FAILURE', 'SKIPPED') THEN lower(r.status)
                   ELSE 'pending' END
                 WHEN recorded THEN 'success'
                 ELSE 'pending' END AS k,
               count(*) AS n
        FROM batch_items bi
        LEFT JOIN batch_results r ON r.batch_pk = bi.batch_pk AND r.item_id = bi.item_id
        WHERE bi.batch_pk = pk AND (recorded OR st NOT IN ('planned', 'sent'))
        GROUP BY 1) c
$$;

-- Brings the items total up to date with one batch.
CREATE FUNCTION pinsync_batch_recount(pk bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    b record;
    fresh jsonb;
    k text;
    delta double precision;
BEGIN
    SELECT id, target_id, state, results_recorded, counted INTO b
    FROM batches WHERE id = pk FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    fresh := pinsync_batch_counts(b.id, b.results_recorded, b.state);
    IF fresh = b.counted THEN
        RETURN;
    END IF;
    FOR k IN SELECT jsonb_object_keys(fresh || b.counted) LOOP
        delta := coalesce((fresh ->> k)::double precision, 0)
                 - coalesce((b.counted ->> k)::double precision, 0);
        IF delta > 0 THEN
            PERFORM pinsync_totals_add(b.target_id, 'items', split_part(k, '/', 1),
                                       split_part(k, '/', 2), delta);
        ELSIF delta < 0 THEN
            PERFORM pinsync_totals_sub(b.target_id, 'items', split_part(k, '/', 1),
                                       split_part(k, '/', 2), -delta);
        END IF;
    END LOOP;
    UPDATE batches SET counted = fresh WHERE id = b.id;
END
$$;

CREATE FUNCTION pinsync_batches_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pinsync_totals_add(NEW.target_id, 'batches', NEW.state, '', 1);
    ELSIF OLD.state IS DISTINCT FROM NEW.state THEN
        PERFORM pinsync_totals_sub(OLD.target_id, 'batches', OLD.state, '', 1);
        PERFORM pinsync_totals_add(NEW.target_id, 'batches', NEW.state, '', 1);
    END IF;
    -- An open batch counts for nothing, until it has.
    IF NEW.results_recorded OR NEW.state NOT IN ('planned', 'sent') OR NEW.counted <> '{}' THEN
        PERFORM pinsync_batch_recount(NEW.id);
    END IF;
    RETURN NULL;
END
$$;

-- Results written (recorded, recorded again, a failure followed up): the
-- batches they belong to are counted again. A DELETE counts nothing: the
-- recording that replaces results inserts them again in its statement, and
-- a prune must take nothing from a total.
CREATE FUNCTION pinsync_results_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pk bigint;
BEGIN
    FOR pk IN SELECT DISTINCT batch_pk FROM changed ORDER BY 1 LOOP
        PERFORM pinsync_batch_recount(pk);
    END LOOP;
    RETURN NULL;
END
$$;

-- A run: its outcome once finished, its sums as written (a change adds the
-- difference).
CREATE FUNCTION pinsync_runs_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o runs;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        o := OLD;
        IF OLD.outcome <> 'running' AND OLD.outcome IS DISTINCT FROM NEW.outcome THEN
            PERFORM pinsync_totals_sub(OLD.target_id, 'runs', OLD.outcome, '', 1);
        END IF;
    ELSE
        o := NULL;
    END IF;
    IF NEW.outcome <> 'running'
       AND (TG_OP = 'INSERT' OR OLD.outcome IS DISTINCT FROM NEW.outcome) THEN
        PERFORM pinsync_totals_add(NEW.target_id, 'runs', NEW.outcome, '', 1);
    END IF;
    PERFORM pinsync_totals_add(NEW.target_id, d.family, '', '', d.delta)
    FROM (VALUES ('invalid', (NEW.invalid - coalesce(o.invalid, 0))::double precision),
                 ('retries', NEW.retries - coalesce(o.retries, 0)),
                 ('retry_wait', NEW.retry_wait_s - coalesce(o.retry_wait_s, 0)),
                 ('feed_bytes', NEW.feed_bytes - coalesce(o.feed_bytes, 0)),
                 ('parsed', NEW.parsed - coalesce(o.parsed, 0))) d(family, delta)
    WHERE d.delta <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION pinsync_jobs_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.state IN ('done', 'failed')
       AND (TG_OP = 'DELETE' OR OLD.state IS DISTINCT FROM NEW.state) THEN
        PERFORM pinsync_totals_sub(OLD.target_id, 'jobs', OLD.state, '', 1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.state IN ('done', 'failed')
       AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state) THEN
        PERFORM pinsync_totals_add(NEW.target_id, 'jobs', NEW.state, '', 1);
    END IF;
    RETURN NULL;
END
$$;

-- The journal so far, counted once.
WITH c AS (
    SELECT bi.batch_pk, lower(bi.operation) || '/' || CASE
             WHEN r.item_id IS NOT NULL THEN CASE
               WHEN r.status = 'FAILURE' AND r.resolution IS NOT NULL THEN 'followed_up'
               WHEN r.status IN ('SUCCESS', 'FAILURE', 'SKIPPED') THEN lower(r.status)
               ELSE 'pending' END
             WHEN b.results_recorded THEN 'success'
             ELSE 'pending' END AS k,
           count(*) AS n
    FROM batch_items bi
    JOIN batches b ON b.id = bi.batch_pk
    LEFT JOIN batch_results r ON r.batch_pk = bi.batch_pk AND r.item_id = bi.item_id
    WHERE b.results_recorded OR b.state NOT IN ('planned', 'sent')
    GROUP BY 1, 2),
 per AS (SELECT batch_pk, jsonb_object_agg(k, n) AS j FROM c GROUP BY 1)
UPDATE batches b SET counted = per.j FROM per WHERE per.batch_pk = b.id;

INSERT INTO metric_totals (target_id, family, l1, l2, value)
    SELECT b.target_id, 'items', split_part(e.key, '/', 1), split_part(e.key, '/', 2),
           sum(e.value::double precision)
    FROM batches b, jsonb_each_text(b.counted) e
    GROUP BY 1, 3, 4;
INSERT INTO metric_totals (target_id, family, l1, value)
    SELECT target_id, 'batches', state, count(*) FROM batches GROUP BY 1, 3;
INSERT INTO metric_totals (target_id, family, l1, value)
    SELECT target_id, 'runs', outcome, count(*) FROM runs WHERE outcome <> 'running'
    GROUP BY 1, 3;
INSERT INTO metric_totals (target_id, family, value)
    SELECT target_id, f.family, f.value
    FROM (SELECT target_id, sum(invalid) AS invalid, sum(retries) AS retries,
                 sum(retry_wait_s) AS retry_wait, sum(feed_bytes) AS feed_bytes,
                 sum(parsed) AS parsed
          FROM runs GROUP BY 1) s,
         LATERAL (VALUES ('invalid', s.invalid::double precision),
                         ('retries', s.retries), ('retry_wait', s.retry_wait),
                         ('feed_bytes', s.feed_bytes), ('parsed', s.parsed))
                         f(family, value)
    WHERE f.value IS NOT NULL;
INSERT INTO metric_totals (target_id, family, l1, value)
    SELECT target_id, 'jobs', state, count(*) FROM jobs WHERE state IN ('done', 'failed')
    GROUP BY 1, 3;

CREATE TRIGGER batches_totals AFTER INSERT OR UPDATE OF state, results_recorded ON batches
    FOR EACH ROW EXECUTE FUNCTION pinsync_batches_totals();
CREATE TRIGGER batch_results_inserted AFTER INSERT ON batch_results
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pinsync_results_totals();
CREATE TRIGGER batch_results_updated AFTER UPDATE ON batch_results
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pinsync_results_totals();
CREATE TRIGGER runs_totals
    AFTER INSERT OR UPDATE OF outcome, invalid, retries, retry_wait_s, feed_bytes, parsed
    ON runs
    FOR EACH ROW EXECUTE FUNCTION pinsync_runs_totals();
CREATE TRIGGER jobs_totals AFTER INSERT OR UPDATE OF state OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION pinsync_jobs_totals();
