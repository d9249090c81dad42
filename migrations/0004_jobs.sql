-- Serve mode (issue "Serve mode and operations"): a queue of sync requests
-- shared by every `pinsync serve` process, and each target's next scheduled
-- sync.

-- One sync request. Life: queued -> running -> done | failed; a running job
-- whose worker stopped renewing its lease (the process died) is claimed
-- again once lease_until has passed; a job that found its target busy goes
-- back to queued with a later run_after.
CREATE TABLE jobs (
    id              bigserial PRIMARY KEY,
    target_id       bigint NOT NULL REFERENCES targets ON DELETE CASCADE,
    trigger         text NOT NULL CHECK (trigger IN ('webhook', 'schedule', 'manual')),
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed')),
    run_after       timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    worker          text,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    exit_code       integer,
    run_id          bigint REFERENCES runs ON DELETE SET NULL,
    error           text
);

-- Coalescing: at most one queued job per target. A burst of webhooks makes
-- one pending job (INSERT ... ON CONFLICT DO NOTHING), plus the one running.
CREATE UNIQUE INDEX jobs_one_queued_idx ON jobs (target_id) WHERE state = 'queued';
-- What workers scan when they claim (FOR UPDATE SKIP LOCKED).
CREATE INDEX jobs_open_idx ON jobs (run_after, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_target_idx ON jobs (target_id, id DESC);

-- The scheduler: a target with schedule_s is due when next_run_at has
-- passed (or was never set); one conditional UPDATE ... RETURNING moves it
-- forward, so that exactly one serve process enqueues each scheduled sync.
ALTER TABLE targets ADD COLUMN next_run_at timestamptz;
