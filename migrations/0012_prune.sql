-- Retention (issue 14, "Retention"): `pinsync prune` and serve mode remove
-- old finished runs with their journal, old finished jobs and webhook
-- delivery ids past their window, a few thousand rows per transaction
-- (db/prune.c).
--
-- Deleting a run sets jobs.run_id of the jobs that made it to NULL (the
-- foreign key's ON DELETE SET NULL): without an index that is a scan of the
-- whole queue per run removed.
CREATE INDEX jobs_run_idx ON jobs (run_id) WHERE run_id IS NOT NULL;
-- What the pruning of finished jobs scans.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE state IN ('done', 'failed');
