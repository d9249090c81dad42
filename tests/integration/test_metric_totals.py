"""The totals behind /metrics (migrations/0011_metric_totals.sql).

A scrape reads totals kept by triggers instead of aggregating the journal.
These tests check them against the journal itself (tests/lib/totals.py)
on a journal written before the totals existed (the migration counts it
once), through later changes made the way db/batches.c makes them (results
recorded, recorded again, a failure followed up, a batch lost, a run
finished), and show that deleting old rows (what a prune does) takes
nothing from a counter. tests/integration/test_convergence.py checks the
same after every path a real sync takes. Also `pinsync metrics` itself:
the queue's age, the refresh token's expiry, --output."""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import REPO, PgCluster, Pinsync, parse_metrics  # noqa: E402
from totals import JOURNAL_SQL, assert_totals_match_journal, kept_figures  # noqa: E402

# A journal of every kind, as pinsync writes it: two targets; finished runs
# (ok, partial, a dry run), one still running; recorded batches with
# failures (one followed up), a skip and an item without a verdict; a lost
# batch without results; a batch in flight; finished jobs.
JOURNAL = """
INSERT INTO targets (name, feed, catalog_id, country, language) VALUES
  ('shop', '/f.csv', '1', 'US', 'en-US'), ('outlet', '/g.csv', '2', 'US', 'en-US');
INSERT INTO runs (target_id, started_at, finished_at, outcome, dry_run, parsed, invalid,
                  retries, retry_wait_s, feed_bytes) VALUES
  (1, now() - interval '3 days', now() - interval '3 days' + interval '1 min', 'ok', false,
   10, 1, 2, 1.5, 1000),
  (1, now() - interval '2 days', now() - interval '2 days' + interval '1 min', 'partial',
   false, 10, 0, 0, 0, 1000),
  (2, now() - interval '1 day', now() - interval '1 day' + interval '1 min', 'ok', true,
   5, 2, 0, 0, 500),
  (1, now(), NULL, 'running', false, 3, 0, 1, 0.25, 300);
INSERT INTO batches (run_id, target_id, seq, state, item_count, results_recorded) VALUES
  (1, 1, 1, 'completed', 4, true),
  (2, 1, 1, 'completed', 3, true),
  (2, 1, 2, 'lost', 2, false),
  (4, 1, 1, 'sent', 2, false);
INSERT INTO batch_items (batch_pk, item_id, operation) VALUES
  (1, 'a', 'UPSERT'), (1, 'b', 'UPSERT'), (1, 'c', 'UPDATE'), (1, 'd', 'DELETE'),
  (2, 'a', 'UPDATE'), (2, 'e', 'UPSERT'), (2, 'f', 'UPSERT'),
  (3, 'g', 'UPSERT'), (3, 'h', 'DELETE'),
  (4, 'i', 'UPSERT'), (4, 'j', 'UPDATE');
INSERT INTO batch_results (batch_pk, item_id, status, resolution) VALUES
  (1, 'b', 'FAILURE', NULL), (1, 'c', 'FAILURE', 'read back: accepted'),
  (2, 'e', 'SKIPPED', NULL), (2, 'f', NULL, NULL);
INSERT INTO jobs (target_id, trigger, state, finished_at) VALUES
  (1, 'webhook', 'done', now()), (1, 'schedule', 'failed', now()), (2, 'manual', 'done', now());
"""


class MetricTotalsTest(unittest.TestCase):

    def setUp(self):
        self.pg = PgCluster().start()
        self.ps = Pinsync(self.pg)
        self.tmp = tempfile.mkdtemp(prefix="pinsync-totals-")

    def tearDown(self):
        self.pg.destroy()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def migrate_with_journal_before_totals(self):
        """The journal written by the schema before 0011, then migrated."""
        for f in sorted(os.listdir(os.path.join(REPO, "migrations"))):
            if f.endswith(".sql") and f < "0011":
                shutil.copy(os.path.join(REPO, "migrations", f), self.tmp)
        self.ps.run("migrate", "--dir", self.tmp, check=0)
        self.pg.psql(JOURNAL)
        self.ps.run("migrate", check=0)

    def test_journal_before_the_totals_is_counted_once(self):
        self.migrate_with_journal_before_totals()
        assert_totals_match_journal(self, self.pg, self.ps)
        kept = kept_figures(self.ps)
        # A few figures by hand, so that the oracle itself is checked too.
        items = {dict(k[1])["operation"] + "/" + dict(k[1])["result"]: v
                 for k, v in kept.items()
                 if k[0] == "pinsync_items_total" and dict(k[1])["target"] == "shop"}
        self.assertEqual(items, {"upsert/success": 1, "upsert/failure": 1,
                                 "update/followed_up": 1, "delete/success": 1,
                                 "update/success": 1, "upsert/skipped": 1,
                                 "upsert/pending": 3, "delete/pending": 1,
                                 "update/pending": 1})
        self.assertEqual(kept[("pinsync_runs_running", frozenset({("target", "shop")}))], 1)
        self.assertEqual(kept[("pinsync_api_retries_total", frozenset({("target", "shop")}))],
                         3)

    def test_later_changes_keep_the_totals_right(self):
        self.migrate_with_journal_before_totals()
        # The batch in flight gets its results; then they are recorded
        # again (a poll after a recovery), as db/batches.c does it.
        record = ("BEGIN;"
                  "WITH gone AS (DELETE FROM batch_results WHERE batch_pk = 4)"
                  " INSERT INTO batch_results (batch_pk, item_id, status)"
                  " SELECT 4, item_id, 'FAILURE' FROM batch_items"
                  " WHERE batch_pk = 4 AND item_id = '{}';"
                  "UPDATE batches SET state = 'completed', results_recorded = true,"
                  " finished_at = clock_timestamp() WHERE id = 4;"
                  "COMMIT;")
        self.pg.psql(record.format("i"))
        assert_totals_match_journal(self, self.pg, self.ps)
        self.pg.psql(record.format("j"))
        assert_totals_match_journal(self, self.pg, self.ps)
        # A failure followed up (ps_db_batch_resolve), a skipped batch in
        # one statement (ps_db_batch_skip), a batch marked lost.
        self.pg.psql("UPDATE batch_results SET resolution = 'read back: gone', status = 'FAILURE'"
                     " WHERE batch_pk = 1 AND item_id = 'b'")
        assert_totals_match_journal(self, self.pg, self.ps)
        self.pg.psql(
            "INSERT INTO batches (run_id, target_id, seq, state, item_count)"
            " VALUES (4, 1, 2, 'sent', 2);"
            "INSERT INTO batch_items (batch_pk, item_id, operation)"
            " VALUES (5, 'k', 'UPSERT'), (5, 'l', 'DELETE');")
        self.pg.psql(
            "WITH s AS (INSERT INTO batch_results (batch_pk, item_id, status)"
            "  SELECT 5, item_id, 'SKIPPED' FROM batch_item_results"
            "  WHERE batch_pk = 5 AND status IS NULL RETURNING 1),"
            " b AS (UPDATE batches SET state = 'completed', results_recorded = true"
            "  WHERE id = 5) SELECT count(*) FROM s")
        assert_totals_match_journal(self, self.pg, self.ps)
        self.pg.psql("INSERT INTO batches (run_id, target_id, seq, state, item_count)"
                     " VALUES (4, 1, 3, 'sent', 1);"
                     "INSERT INTO batch_items (batch_pk, item_id, operation)"
                     " VALUES (6, 'm', 'UPDATE');")
        assert_totals_match_journal(self, self.pg, self.ps)
        self.pg.psql("UPDATE batches SET state = 'lost' WHERE id = 6")
        assert_totals_match_journal(self, self.pg, self.ps)
        # The run ends; its sums were written along the way.
        self.pg.psql("UPDATE runs SET parsed = 8, invalid = 1 WHERE id = 4")
        assert_totals_match_journal(self, self.pg, self.ps)
        self.pg.psql("UPDATE runs SET outcome = 'ok', finished_at = now(), retries = 4"
                     " WHERE id = 4")
        assert_totals_match_journal(self, self.pg, self.ps)
        # A run recounted later (pinsync poll) moves from one outcome to another.
        self.pg.psql("UPDATE runs SET outcome = 'ok' WHERE id = 2")
        assert_totals_match_journal(self, self.pg, self.ps)

    def test_deleting_old_rows_takes_nothing_from_a_counter(self):
        self.migrate_with_journal_before_totals()
        before = kept_figures(self.ps)
        # What a prune removes: a finished run with its batches, items and
        # results, and finished jobs.
        self.pg.psql("DELETE FROM batch_results WHERE batch_pk IN (1);"
                     "DELETE FROM batch_items WHERE batch_pk IN (1);"
                     "DELETE FROM batches WHERE run_id = 1;"
                     "DELETE FROM runs WHERE id = 1;")
        after = kept_figures(self.ps)
        # Counters, that is: the last success is a gauge read from the runs
        # left (a prune keeps each target's latest success).
        gauge = "pinsync_last_success_timestamp_seconds"
        self.assertEqual({k: v for k, v in after.items() if k[0] != gauge},
                         {k: v for k, v in before.items() if k[0] != gauge})
        self.assertNotIn((gauge, frozenset({("target", "shop")})), after)
        # The journal alone would have lost the pruned run's figures.
        ok = ("pinsync_runs_total", frozenset({("target", "shop"), ("outcome", "ok")}))
        self.assertEqual(after[ok], 1)
        self.assertEqual(self.pg.psql(JOURNAL_SQL["pinsync_runs_total"] + " ORDER BY 1, 2"),
                         [["outlet", "ok", "", "1"], ["shop", "partial", "", "1"]])
        # The queue's gauge of finished jobs does follow the rows.
        text = self.ps.run("metrics", check=0).stdout
        self.assertEqual(parse_metrics(text)[("pinsync_jobs",
                                                 frozenset({("state", "done")}))], 2)
        self.pg.psql("DELETE FROM jobs WHERE trigger = 'webhook'")
        text = self.ps.run("metrics", check=0).stdout
        self.assertEqual(parse_metrics(text)[("pinsync_jobs",
                                                 frozenset({("state", "done")}))], 1)
        # Removing a target takes its totals with it, triggers and all.
        self.pg.psql("DELETE FROM targets WHERE name = 'shop'")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM metric_totals m JOIN targets t"
                                      " ON t.id = m.target_id WHERE t.name = 'shop'"), [["0"]])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM metric_totals WHERE target_id = 1"),
                         [["0"]])

    def test_queue_age_token_expiry_and_output_file(self):
        self.ps.run("migrate", check=0)
        self.pg.psql(
            "INSERT INTO targets (name, feed, catalog_id, country, language)"
            " VALUES ('shop', '/f.csv', '1', 'US', 'en-US');"
            "INSERT INTO jobs (target_id, trigger, created_at)"
            " VALUES (1, 'webhook', now() - interval '100 s');"
            "INSERT INTO oauth_tokens (client_id, access_token, refresh_token,"
            " refresh_expires_at) VALUES ('1234', 'a', 'r', to_timestamp(2000000000));")
        out = os.path.join(self.tmp, "pinsync.prom")
        self.ps.run("metrics", "--output", out, check=0)
        self.assertEqual(os.listdir(self.tmp), ["pinsync.prom"])  # no .tmp left behind
        with open(out, encoding="utf-8") as f:
            m = parse_metrics(f.read())
        age = m[("pinsync_queue_oldest_seconds", frozenset())]
        self.assertGreaterEqual(age, 100)
        self.assertLess(age, 100 + 120)
        self.assertEqual(m[("pinsync_refresh_token_expiry_timestamp_seconds",
                            frozenset({("client_id", "1234")}))], 2000000000)
        self.assertEqual(m[("pinsync_queue_depth", frozenset())], 1)
        # Nothing queued: the age is 0.
        self.pg.psql("UPDATE jobs SET state = 'done', finished_at = now()")
        m = parse_metrics(self.ps.run("metrics", check=0).stdout)
        self.assertEqual(m[("pinsync_queue_oldest_seconds", frozenset())], 0)
        # An output it cannot write is a clear error, and nothing is left.
        r = self.ps.run("metrics", "--output", os.path.join(self.tmp, "no", "such.prom"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("such.prom", r.stderr)


if __name__ == "__main__":
    unittest.main()
