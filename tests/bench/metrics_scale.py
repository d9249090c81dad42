#!/usr/bin/env python3
"""The cost of a /metrics scrape on a large journal (issue 14).

    tests/bench/metrics_scale.py [--items N] [--targets T] [--scrapes S]
                                 [--binary PATH] [--keep]

Starts a PostgreSQL cluster of its own, migrates it with pinsync, writes a
journal of N item rows (default 10,000,000) for T targets straight in SQL:
finished runs, batches of 1000 items each with their results recorded
(batch by batch, as pinsync records them, so that the totals of
migrations/0011 are kept as in real use), 1%
of them failures (a third followed up), 0.2% skipped, plus one run still
running with an unfinished batch, and finished jobs. Then it starts
`pinsync serve` with no workers and no metrics cache, scrapes /metrics S
times (default 20) and prints the time of each scrape's answer (spaced past the
metrics cache's 1 s): median,
p90, max, and the size of the answer.

--binary runs another build of pinsync (for instance the last commit before
the totals, to measure the former figure on the same journal). A benchmark,
not a test: it prints figures and asserts only that the scrape answered.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from harness import PgCluster, Pinsync, free_port  # noqa: E402

BATCH = 1000


def build_journal(pg, items, targets):
    nbatches = items // BATCH
    per_run = 100  # batches per run: 100,000 items
    t0 = time.monotonic()
    pg.psql(f"""
    INSERT INTO targets (name, feed, catalog_id, country, language)
      SELECT 'shop' || g, '/dev/null', '1001', 'US', 'en' FROM generate_series(1, {targets}) g;
    -- Finished runs (one per {per_run} batches), spread over the targets.
    INSERT INTO runs (target_id, trigger, started_at, finished_at, outcome, parsed, invalid,
                      feed_bytes, retries, retry_wait_s)
      SELECT t.id, 'schedule', now() - make_interval(mins => r), now() - make_interval(mins => r)
               + interval '40 s', CASE WHEN r % 10 = 0 THEN 'partial' ELSE 'ok' END,
             100000, 10, 40000000, r % 3, (r % 3) * 2
      FROM generate_series(1, {max(1, nbatches // per_run)}) r
      JOIN targets t ON t.id = (SELECT min(id) FROM targets) + (r % {targets});
    """)
    # Batches, items and results, one run at a time (bounded transactions).
    runs = [int(r[0]) for r in pg.psql("SELECT id FROM runs ORDER BY id")]
    done = 0
    for run in runs:
        n = min(per_run, nbatches - done)
        if n <= 0:
            break
        pg.psql(f"""
        WITH b AS (
          INSERT INTO batches (run_id, target_id, seq, state, batch_id, item_count, attempts,
                               sent_at, finished_at, results_recorded, body)
          SELECT {run}, (SELECT target_id FROM runs WHERE id = {run}), s, 'sent',
                 'b-{run}-' || s, {BATCH}, 1, now(), NULL, false, '{{}}'
          FROM generate_series(1, {n}) s RETURNING id)
        INSERT INTO batch_items (batch_pk, item_id, operation, hash)
          SELECT b.id, 'item-' || b.id || '-' || i,
                 (ARRAY['UPSERT', 'UPDATE', 'UPDATE', 'UPDATE', 'DELETE'])[1 + i % 5],
                 (b.id * {BATCH} + i)
          FROM b, generate_series(1, {BATCH}) i;
        INSERT INTO batch_results (batch_pk, item_id, status, errors, resolution)
          SELECT bi.batch_pk, bi.item_id,
                 CASE WHEN bi.hash % 500 = 7 THEN 'SKIPPED' ELSE 'FAILURE' END,
                 '[{{"code": 109, "message": "Invalid price"}}]',
                 CASE WHEN bi.hash % 300 = 1 THEN 'read back: accepted' END
          FROM batch_items bi JOIN batches b ON b.id = bi.batch_pk
          WHERE b.run_id = {run} AND (bi.hash % 100 = 1 OR bi.hash % 500 = 7);
        """)
        # Results recorded as pinsync records them: one batch at a time.
        pg.psql(f"""
        DO $$ DECLARE pk bigint; BEGIN
          FOR pk IN SELECT id FROM batches WHERE run_id = {run} ORDER BY id LOOP
            UPDATE batches SET state = 'completed', results_recorded = true,
                   finished_at = now() WHERE id = pk;
          END LOOP;
        END $$;
        """)
        done += n
    # One run in flight, and the queue's history.
    pg.psql(f"""
    WITH r AS (INSERT INTO runs (target_id, trigger) SELECT min(id), 'webhook' FROM targets
               RETURNING id, target_id),
         b AS (INSERT INTO batches (run_id, target_id, seq, state, batch_id, item_count)
               SELECT id, target_id, 1, 'sent', 'inflight', {BATCH} FROM r RETURNING id)
    INSERT INTO batch_items (batch_pk, item_id, operation)
      SELECT b.id, 'new-' || i, 'UPSERT' FROM b, generate_series(1, {BATCH}) i;
    INSERT INTO jobs (target_id, trigger, state, finished_at, exit_code)
      SELECT t.id, 'webhook', CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'done' END, now(), 0
      FROM targets t, generate_series(1, {max(1, len(runs) // targets)}) g;
    """)
    pg.psql("VACUUM ANALYZE")
    rows = pg.psql("SELECT (SELECT count(*) FROM batch_items), (SELECT count(*) FROM batches),"
                   " (SELECT count(*) FROM batch_results), (SELECT count(*) FROM runs),"
                   " pg_size_pretty(pg_total_relation_size('batch_items')"
                   "  + pg_total_relation_size('batches') + pg_total_relation_size('batch_results'))")
    print(f"journal: {int(rows[0][0]):,} item rows, {int(rows[0][1]):,} batches, "
          f"{int(rows[0][2]):,} result rows, {int(rows[0][3]):,} runs, {rows[0][4]} "
          f"(written in {time.monotonic() - t0:.0f} s)", flush=True)


def scrape(port):
    t0 = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as r:
        body = r.read()
        status = r.status
    return time.monotonic() - t0, status, body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=10_000_000)
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--binary", help="the pinsync to measure (default: this build's)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster's folder")
    args = ap.parse_args()
    if args.binary:
        os.environ["PINSYNC_BIN"] = os.path.abspath(args.binary)

    pg = PgCluster().start()
    serve = None
    try:
        ps = Pinsync(pg)
        ps.run("migrate", check=0)
        build_journal(pg, args.items, args.targets)
        port = free_port()
        # The shortest cache there is (1 s), and scrapes spaced wider.
        env = dict(ps.env, PINSYNC_SERVE_WORKERS="0", PINSYNC_METRICS_CACHE_S="1",
                   PINSYNC_LOG_FORMAT="text")
        serve = subprocess.Popen([ps.bin, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise SystemExit("metrics_scale: pinsync serve did not start")
                time.sleep(0.1)
        scrape(port)  # the first one warms the caches
        times = []
        for _ in range(args.scrapes):
            time.sleep(1.1)
            took, status, body = scrape(port)
            if status != 200 or b"pinsync_items_total" not in body:
                raise SystemExit(f"metrics_scale: scrape answered {status} without items")
            times.append(took * 1000)
        times.sort()
        p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
        print(f"/metrics ({args.scrapes} scrapes, {len(body):,} bytes, "
              f"{os.path.basename(ps.bin)} {ps.bin}): median {statistics.median(times):.1f} ms, "
              f"p90 {p90:.1f} ms, max {times[-1]:.1f} ms")
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(timeout=30)
        if args.keep:
            print(f"cluster kept in {pg.dir}")
        else:
            pg.destroy()


if __name__ == "__main__":
    main()
