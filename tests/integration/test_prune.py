"""Retention: `pinsync prune` and serve mode's own pruning (issue 14).

What must stay stays (an unfinished run's batches, the latest run's
`pinsync errors`, the snapshot, each target's newest runs), what is old goes
(counted per table, no orphans left), --dry-run removes nothing and counts
the same, TARGET limits it, a run and a prune at the same time both succeed,
and serve prunes on its own. Rows are made old by moving their timestamps.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import Pinsync, SyncCase, free_port  # noqa: E402
from totals import assert_totals_match_journal, journal_figures, kept_figures  # noqa: E402
from test_sync import make_item, write_csv  # noqa: E402

TABLES = ["runs", "batches", "batch_items", "batch_results", "item_problems", "jobs",
          "webhook_deliveries"]
KNOBS_OFF = dict(fail_items={}, delay_ms=0, processing_polls=1)


def parse_prune(stdout):
    """{table: count} from pinsync prune's output."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^  (\w+) +(\d+)$", stdout, re.M)}


class PruneTest(SyncCase):
    catalogs = 3000

    def setUp(self):
        self.sim.config(**KNOBS_OFF)

    # -- helpers ---------------------------------------------------------------------

    def add_target(self, name, nitems, invalid=0):
        type(self).catalogs += 1
        catalog = str(self.catalogs)
        self.sim.add_catalog(catalog)
        path = os.path.join(self.tmp.name, f"{name}.csv")
        self.ps.run("target", "add", name, "--feed", path, "--catalog-id", catalog,
                    "--country", "US", "--language", "en-US", check=0)
        self.write_feed(name, nitems, 0, invalid)
        return catalog

    def write_feed(self, name, nitems, version, invalid=0):
        """nitems items whose prices change with version; invalid of them
        without a title (refused locally: item_problems)."""
        items = [make_item(i, price=f"{10 + (i + version) % 90}.99 USD") for i in range(nitems)]
        for it in items[:invalid]:
            it["title"] = ""
        write_csv(os.path.join(self.tmp.name, f"{name}.csv"), items)
        return items

    def sync(self, name, nitems, runs, invalid=0, check=None):
        for v in range(runs):
            self.write_feed(name, nitems, v + 1, invalid)
            r = self.ps.run("run", name)
            if check is not None:
                self.assertEqual(r.returncode, check, r.stdout + r.stderr)

    def age(self, name, days):
        """Moves every run, batch and job of target name days into the past."""
        where = f"target_id = (SELECT id FROM targets WHERE name = '{name}')"
        self.pg.psql(
            f"UPDATE runs SET started_at = started_at - interval '{days} days',"
            f" finished_at = finished_at - interval '{days} days' WHERE {where};"
            f" UPDATE batches SET planned_at = planned_at - interval '{days} days' WHERE {where};"
            f" UPDATE jobs SET finished_at = finished_at - interval '{days} days',"
            f" created_at = created_at - interval '{days} days' WHERE {where}")

    def counts(self, name=None):
        """Rows per table (of target name, or all)."""
        t = "(SELECT id FROM targets WHERE name = '%s')" % name if name else None
        q = {
            "runs": "SELECT count(*) FROM runs" + (f" WHERE target_id = {t}" if t else ""),
            "batches": "SELECT count(*) FROM batches" + (f" WHERE target_id = {t}" if t else ""),
            "batch_items": "SELECT count(*) FROM batch_items i JOIN batches b ON b.id = i.batch_pk"
                           + (f" WHERE b.target_id = {t}" if t else ""),
            "batch_results": "SELECT count(*) FROM batch_results x JOIN batches b"
                             " ON b.id = x.batch_pk" + (f" WHERE b.target_id = {t}" if t else ""),
            "item_problems": "SELECT count(*) FROM item_problems p JOIN runs r ON r.id = p.run_id"
                             + (f" WHERE r.target_id = {t}" if t else ""),
            "jobs": "SELECT count(*) FROM jobs" + (f" WHERE target_id = {t}" if t else ""),
            "webhook_deliveries": "SELECT count(*) FROM webhook_deliveries"
                                  + (f" WHERE target_id = {t}" if t else ""),
        }
        return {k: int(self.pg.psql(v)[0][0]) for k, v in q.items()}

    def run_ids(self, name):
        return [int(r[0]) for r in self.pg.psql(
            "SELECT r.id FROM runs r JOIN targets t ON t.id = r.target_id"
            f" WHERE t.name = '{name}' ORDER BY r.id")]

    def snapshot(self):
        return self.pg.psql("SELECT target_id, item_id, hash, encode(fp, 'hex'), updated_at"
                            " FROM snapshot_items ORDER BY 1, 2")

    def assert_no_orphans(self):
        self.assertEqual(self.pg.psql(
            "SELECT (SELECT count(*) FROM batch_items WHERE batch_pk NOT IN"
            "  (SELECT id FROM batches)),"
            " (SELECT count(*) FROM batch_results WHERE batch_pk NOT IN (SELECT id FROM batches)),"
            " (SELECT count(*) FROM batches WHERE run_id NOT IN (SELECT id FROM runs)),"
            " (SELECT count(*) FROM item_problems WHERE run_id NOT IN (SELECT id FROM runs))"),
            [["0", "0", "0", "0"]])

    def prune(self, *args, check=0, ps=None):
        r = (ps or self.ps).run("prune", *args, check=check)
        return parse_prune(r.stdout), r

    # -- tests -----------------------------------------------------------------------

    def test_old_goes_what_must_stay_stays(self):
        self.add_target("keep", 30, invalid=2)
        self.sync("keep", 30, 5, invalid=2)            # runs 1-5: ok, with problems
        self.sim.config(fail_items={"SKU-00007": {
            "attribute": "price", "code": 109, "message": "Price is not valid"}})
        self.sync("keep", 30, 1, invalid=2, check=6)   # run 6: partial, one rejected
        self.sim.config(fail_items={})
        ids = self.run_ids("keep")
        self.assertEqual(len(ids), 6)
        # Run 2 of six pretends to have a batch still sent (recovery needs it).
        self.pg.psql(f"UPDATE batches SET state = 'sent' WHERE id = (SELECT min(id)"
                     f" FROM batches WHERE run_id = {ids[1]})")
        # An unfinished run on another target: killed after its first POST.
        self.add_target("crashed", 1500)
        self.sync("crashed", 1500, 1, check=0)
        crashing = Pinsync(self.pg, self.sim, PINSYNC_CRASH_AT="after-post:1")
        self.write_feed("crashed", 1500, 7)
        self.assertEqual(crashing.run("run", "crashed").returncode, -signal.SIGKILL)
        crashed_ids = self.run_ids("crashed")
        self.assertEqual(self.pg.psql(f"SELECT outcome FROM runs WHERE id = {crashed_ids[-1]}"),
                         [["running"]])
        running = crashed_ids[-1]
        # A later run, so that the running one is not kept as the latest.
        self.pg.psql("INSERT INTO runs (target_id, outcome, started_at, finished_at)"
                     " SELECT id, 'ok', now(), now() FROM targets WHERE name = 'crashed'")
        crashed_ids = self.run_ids("crashed")
        open_batches = self.pg.psql(
            "SELECT id, state FROM batches WHERE state IN ('planned', 'sent') ORDER BY id")
        self.assertTrue(open_batches)
        self.age("keep", 60)
        self.age("crashed", 60)

        errors_before = self.ps.run("errors", "keep", "--format", "csv", check=0).stdout
        self.assertIn("SKU-00007", errors_before)
        self.assertIn("SKU-00000", errors_before)  # a local problem
        snapshot_before = self.snapshot()
        before = self.counts()

        # Nothing is old enough yet for a 90-day retention.
        gone, _ = self.prune("--older-than", "90d")
        self.assertEqual(sum(gone.values()), 0, gone)
        self.assertEqual(self.counts(), before)
        # Old jobs and delivery ids (the replay window is 300 s).
        tid = self.pg.psql("SELECT id FROM targets WHERE name = 'keep'")[0][0]
        self.pg.psql(
            "INSERT INTO jobs (target_id, trigger, state, finished_at) VALUES"
            f" ({tid}, 'schedule', 'done', now() - interval '40 days'),"
            f" ({tid}, 'webhook', 'failed', now() - interval '40 days'),"
            f" ({tid}, 'manual', 'done', now() - interval '1 day');"
            "INSERT INTO webhook_deliveries (target_id, delivery_id, first_seen) VALUES"
            f" ({tid}, 'old-1', now() - interval '1 hour'), ({tid}, 'old-2', now() - interval"
            f" '2 days'), ({tid}, 'fresh', now())")
        before = self.counts()

        dry, r = self.prune("--dry-run")
        self.assertIn("would remove", r.stdout)
        self.assertEqual(self.counts(), before)
        assert_totals_match_journal(self, self.pg, self.ps)
        figures_before = kept_figures(self.ps)
        gone, r = self.prune()
        self.assertEqual(gone, dry, r.stdout)
        # The counters of /metrics lose nothing (they are totals, not counts
        # of the rows left); the journal alone now says less.
        self.assertEqual(kept_figures(self.ps), figures_before)
        self.assertNotEqual(journal_figures(self.pg), figures_before)
        after = self.counts()
        for table in TABLES:
            self.assertEqual(after[table], before[table] - gone[table], table)

        # keep: runs 4, 5, 6 (the three newest) and 2 (its sent batch);
        # crashed: its three runs are its three newest.
        self.assertEqual(self.run_ids("keep"), [ids[1], ids[3], ids[4], ids[5]])
        self.assertEqual(self.run_ids("crashed"), crashed_ids)
        self.assertEqual(gone["runs"], 2)
        self.assertGreater(gone["batches"], 0)
        self.assertGreater(gone["batch_items"], 0)
        self.assertEqual(gone["item_problems"], 4)
        self.assertEqual(gone["jobs"], 2)
        self.assertEqual(gone["webhook_deliveries"], 2)
        self.assertEqual(self.pg.psql(
            "SELECT id, state FROM batches WHERE state IN ('planned', 'sent') ORDER BY id"),
            open_batches)
        # Every batch of the kept runs, with its items, is still there.
        self.assertEqual(self.pg.psql(
            f"SELECT count(*) FROM batches WHERE run_id IN ({ids[0]}, {ids[2]})"), [["0"]])
        self.assert_no_orphans()
        self.assertEqual(self.snapshot(), snapshot_before)
        self.assertEqual(self.ps.run("errors", "keep", "--format", "csv", check=0).stdout,
                         errors_before)

        # Pruning again finds nothing; with --keep-runs 0 only what recovery,
        # errors and the gauges need stays.
        gone, _ = self.prune()
        self.assertEqual(sum(gone.values()), 0, gone)
        gone, _ = self.prune("--keep-runs", "0")
        self.assertEqual(self.run_ids("keep"), [ids[1], ids[5]])
        # crashed: the running run (recovery) and the latest; not the first.
        self.assertEqual(self.run_ids("crashed"), [running, crashed_ids[-1]])
        self.assertEqual(self.pg.psql(
            "SELECT id, state FROM batches WHERE state IN ('planned', 'sent') ORDER BY id"),
            open_batches)
        self.assertEqual(self.ps.run("errors", "keep", "--format", "csv", check=0).stdout,
                         errors_before)
        self.assertEqual(self.snapshot(), snapshot_before)
        self.assert_no_orphans()

        # Recovery still works: the next run of the crashed target finishes
        # what its killed run left, and Pinterest ends holding the feed.
        items = self.write_feed("crashed", 1500, 7)
        self.ps.run("run", "crashed", check=0)
        cat = self.sim.catalog(self.pg.psql(
            "SELECT catalog_id FROM targets WHERE name = 'crashed'")[0][0])
        self.assertEqual(sorted(cat), sorted(it["id"] for it in items))
        self.assertEqual({k: v["attributes"]["price"] for k, v in cat.items()},
                         {it["id"]: it["price"] for it in items})

    def test_target_and_keep_runs(self):
        self.add_target("one", 5)
        self.add_target("two", 5)
        self.sync("one", 5, 4, check=0)
        self.sync("two", 5, 4, check=0)
        one, two = self.run_ids("one"), self.run_ids("two")
        self.age("one", 40)
        self.age("two", 40)
        two_before = self.counts("two")
        gone, _ = self.prune("--keep-runs", "2", "one")
        self.assertEqual(gone["runs"], 2)
        self.assertEqual(self.run_ids("one"), one[2:])
        self.assertEqual(self.counts("two"), two_before)
        gone, _ = self.prune("--keep-runs", "0", "one")
        self.assertEqual(self.run_ids("one"), one[3:])
        self.assertEqual(self.counts("two"), two_before)
        self.assertEqual(self.run_ids("two"), two)
        # A dry run of the latest run does not take the place of the last real one.
        self.ps.run("run", "--dry-run", "two", check=0)
        gone, _ = self.prune("--keep-runs", "0", "two")
        self.assertEqual(self.run_ids("two"), [two[-1], self.run_ids("two")[-1]])
        self.assert_no_orphans()

    def test_usage_and_busy(self):
        self.assertEqual(self.ps.run("prune", "--older-than", "3x").returncode, 2)
        self.assertEqual(self.ps.run("prune", "--keep-runs", "-1").returncode, 2)
        self.assertEqual(self.ps.run("prune", "no-such-target").returncode, 2)
        off = Pinsync(self.pg, self.sim, PINSYNC_PRUNE_AFTER="off")
        self.assertEqual(off.run("prune").returncode, 2)
        self.assertEqual(Pinsync(self.pg, self.sim, PINSYNC_PRUNE_AFTER="30 days")
                         .run("prune").returncode, 2)
        off.run("prune", "--older-than", "1h", check=0)
        # Another prune holds the lock: exit 9, nothing done.
        import psycopg2
        conn = psycopg2.connect(self.pg.url)
        try:
            conn.autocommit = True
            conn.cursor().execute("SELECT pg_advisory_lock(7405002, 0)")
            r = self.ps.run("prune", check=9)
            self.assertIn("another pinsync is pruning", r.stderr)
            self.ps.run("prune", "--dry-run", check=0)
        finally:
            conn.close()
        # A database that fails: exit 4.
        bad = Pinsync(self.pg, self.sim,
                      PINSYNC_DATABASE_URL="postgresql://pinsync@127.0.0.1:1/none")
        self.assertEqual(bad.run("prune").returncode, 4)

    def test_run_and_prune_at_once(self):
        self.add_target("old", 2000, invalid=5)
        self.sync("old", 2000, 4, invalid=5, check=6)
        self.age("old", 45)
        catalog = self.add_target("busy", 3000)
        # Slow Pinterest down so that the run is mid-flight while pruning.
        self.sim.config(delay_ms=150, processing_polls=6)
        items = self.write_feed("busy", 3000, 1)
        run = subprocess.Popen([self.ps.bin, "run", "busy"], env=self.ps.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 60
            while not self.pg.psql("SELECT 1 FROM batches b JOIN targets t ON t.id = b.target_id"
                                   " WHERE t.name = 'busy' AND b.state = 'sent'"):
                self.assertIsNone(run.poll(), "the run ended before the prune started")
                self.assertLess(time.time(), deadline, "no batch of the run was sent")
                time.sleep(0.05)
            old = self.run_ids("old")
            gone, _ = self.prune("--older-than", "0s", "--keep-runs", "0")
            self.assertIsNone(run.poll(), "the run was not mid-flight during the prune")
            self.assertEqual(self.run_ids("old"), old[-1:])
            self.assertGreater(gone["batch_items"], 0)
            out, err = run.communicate(timeout=300)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        self.assertEqual(run.returncode, 0, out + err)
        self.sim.config(**KNOBS_OFF)
        cat = self.sim.catalog(catalog)
        self.assertEqual(sorted(cat), sorted(it["id"] for it in items))
        self.assertEqual(self.pg.psql(
            "SELECT outcome, created FROM runs r JOIN targets t ON t.id = r.target_id"
            " WHERE t.name = 'busy'"), [["ok", "3000"]])
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM snapshot_items s JOIN targets t ON t.id = s.target_id"
            " WHERE t.name = 'busy'"), [["3000"]])
        self.assertEqual(self.counts("busy")["batch_items"], 3000)
        self.assert_no_orphans()

    def test_serve_prunes_on_its_own(self):
        self.add_target("served", 5)
        self.sync("served", 5, 5, check=0)
        ids = self.run_ids("served")
        self.age("served", 3)
        port = free_port()
        log = tempfile.NamedTemporaryFile(prefix="pinsync-serve-", suffix=".log", delete=False)
        env = dict(self.ps.env, PINSYNC_PRUNE_AFTER="2d", PINSYNC_PRUNE_EVERY_S="1",
                   PINSYNC_SERVE_WORKERS="0")
        serve = subprocess.Popen([self.ps.bin, "serve", "--listen", f"127.0.0.1:{port}"],
                                 env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            deadline = time.time() + 30
            while self.run_ids("served") != ids[2:]:
                self.assertIsNone(serve.poll(), "serve exited")
                self.assertLess(time.time(), deadline, "serve did not prune")
                time.sleep(0.2)
            serve.send_signal(signal.SIGTERM)
            self.assertEqual(serve.wait(30), 0)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
            log.close()
        with open(log.name, encoding="utf-8") as f:
            text = f.read()
        os.unlink(log.name)
        self.assertRegex(text, r"prune: removed [1-9]\d* runs")
        self.assert_no_orphans()
        # PINSYNC_PRUNE_AFTER=off: serve does not prune.
        self.age("served", 10)
        env["PINSYNC_PRUNE_AFTER"] = "off"
        serve = subprocess.Popen([self.ps.bin, "serve", "--listen", f"127.0.0.1:{port}"],
                                 env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
        self.assertEqual(serve.returncode, 0, err)
        self.assertIn("prune: off", err)
        self.assertEqual(self.run_ids("served"), ids[2:])


if __name__ == "__main__":
    unittest.main()
