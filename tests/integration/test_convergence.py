"""Convergence against a simulator as strict as Pinterest: whatever the API
answers, the catalog ends up equal to the feed within at most three runs, and
no run says ok (exit 0) while an item is not in sync.

Each test turns on one of the simulator's strict behaviours (see the knobs in
tests/pinsim/pinsim.py): CREATE of an item that exists, UPDATE of one deleted
outside pinsync, UPSERT refused on a catalog with a feed data source, batches
that give no verdict for some items, a whole batch refused for one item (400)
or for its size (413), read-backs that say nothing, items edited or deleted
outside pinsync. It then checks what pinsync sent, what each run reported
(exit status, pending and failed counts, pinsync errors), and that Pinterest's
catalog equals the feed and the snapshot equals what Pinterest holds.
"""

import hashlib
import http.server
import os
import signal
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import Pinsync, SyncCase  # noqa: E402
from totals import assert_totals_match_journal  # noqa: E402
from test_sync import (assert_converged, expected_attributes, make_item,  # noqa: E402
                       write_csv)

BATCH = "/v5/catalogs/items/batch"
KNOBS_OFF = dict(fail_items={}, omit_items=[], processing_items=[], item_status={},
                 failed_without_records=0, refuse_items=[], max_body_bytes=None,
                 readback_garbage=0, readback_errors=[], lose_batches=0, skip_batches=0,
                 fail_batches=0, background=False, delete_missing="success", fail_next=[],
                 processing_polls=1, delay_ms=0)


class FeedServer:
    """Serves one file over HTTP with an ETag (a hash of its bytes), answering
    304 to If-None-Match when it has not changed; counts full downloads."""

    def __init__(self, path):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with open(path, "rb") as f:
                    body = f.read()
                etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
                if self.headers.get("If-None-Match") == etag:
                    server.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                server.downloads += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

        self.downloads = self.not_modified = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/feed.csv" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ConvergenceTest(SyncCase):
    SIM_ARGS = ("--processing-polls", "1")
    n = 0

    def setUp(self):
        self.sim.config(**KNOBS_OFF)
        self.sim.clear_requests()

    def tearDown(self):
        # Every path these tests drive keeps /metrics' totals equal to what
        # the journal says (tests/lib/totals.py).
        assert_totals_match_journal(self, self.pg, self.ps)

    # -- helpers ------------------------------------------------------------------------

    def new_target(self, items, feed_source=False, url=False, sync=True):
        """A target on a catalog of its own, synced once (unless sync=False)."""
        type(self).n += 1
        name, catalog = f"c{self.n}", str(7000 + self.n)
        self.sim.add_catalog(catalog, feed_source=feed_source)
        path = os.path.join(self.tmp.name, f"{name}.csv")
        write_csv(path, items)
        source = path
        if url:
            self.server = FeedServer(path)
            self.addCleanup(self.server.stop)
            source = self.server.url
        self.ps.run("target", "add", name, "--feed", source, "--catalog-id", catalog,
                    "--country", "US", "--language", "en-US", check=0)
        if sync:
            self.ps.run("run", name, check=0)
        self.sim.clear_requests()
        return name, path, catalog

    def put_in_catalog(self, catalog, items):
        """Items Pinterest holds before pinsync ever ran (another tool, a lost
        database)."""
        self.sim.edit_catalog(catalog, put={
            it["id"]: {"attributes": expected_attributes(it)} for it in items})

    def sent(self):
        """(operation, item_id) of every batch POSTed, in order."""
        return [(it["operation"], it["item_id"])
                for body in self.sim.batch_posts() for it in body["items"]]

    def run_until_ok(self, name, ps=None, max_runs=3):
        """Runs until a run exits 0; returns every exit status. The promise is
        convergence within max_runs."""
        codes = []
        for _ in range(max_runs):
            r = (ps or self.ps).run("run", name)
            codes.append(r.returncode)
            self.assertIn(r.returncode, (0, 6), r.stdout + r.stderr)
            if r.returncode == 0:
                return codes
        self.fail(f"{name}: not in sync after {max_runs} runs: {codes}\n{r.stdout}{r.stderr}")

    def assert_converged(self, name, catalog, items):
        assert_converged(self, name, catalog, items)

    def last_run(self, name):
        """(outcome, failed, pending, drift, drift_checked) of the last run."""
        row = self.pg.psql(
            "SELECT r.outcome, r.failed, r.pending, r.drift, r.drift_checked FROM runs r"
            f" JOIN targets t ON t.id = r.target_id WHERE t.name = '{name}'"
            " ORDER BY r.id DESC LIMIT 1")[0]
        return row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4])

    def errors(self, name):
        """pinsync errors NAME as {item_id: (state, message)}."""
        import csv
        import io
        out = self.ps.run("errors", name, "--format", "csv", check=0).stdout
        return {r["item_id"]: (r["state"], r["message"]) for r in csv.DictReader(io.StringIO(out))}

    # -- an item Pinterest has already ----------------------------------------------------

    def test_fresh_database_on_a_catalog_that_holds_the_items(self):
        """A new database (or a re-created target) pointed at a catalog that holds
        the feed's items: one run, no error per item, whichever the catalog."""
        for feed_source in (False, True):
            with self.subTest(feed_source=feed_source):
                items = [make_item(i) for i in range(30)]
                name, path, catalog = self.new_target(items, feed_source, sync=False)
                held = [dict(it) for it in items]
                held[3]["price"] = "1.23 USD"           # Pinterest has an older price
                held[4]["image_link"] = "https://shop.example/images/old-4.jpg"
                self.put_in_catalog(catalog, held)
                r = self.ps.run("run", name, check=0)
                self.assertIn("created 30", r.stdout) if not feed_source else None
                self.assertEqual(self.errors(name), {})
                ops = self.sent()
                if feed_source:
                    # CREATE is refused for each; read back, the 28 equal items are
                    # accepted as they are, the price goes as UPDATE, the image as
                    # DELETE then CREATE. No UPSERT: the catalog refuses it.
                    self.assertEqual(sorted(set(op for op, _ in ops)),
                                     ["CREATE", "DELETE", "UPDATE"])
                    self.assertEqual([op for op, i in ops if i == "SKU-00003"],
                                     ["CREATE", "UPDATE"])
                    self.assertEqual([op for op, i in ops if i == "SKU-00004"],
                                     ["CREATE", "DELETE", "CREATE"])
                    self.assertEqual([op for op, i in ops if i == "SKU-00005"], ["CREATE"])
                else:
                    self.assertEqual(set(op for op, _ in ops), {"UPSERT"})
                self.assert_converged(name, catalog, items)

    def test_fresh_database_many_batches_on_a_catalog_with_a_feed_source(self):
        """Ten full batches whose every CREATE is refused and followed up by an
        UPDATE: the follow-up batches fill and leave while answers are being
        recorded (the poller's list of batches grows under it)."""
        items = [make_item(i) for i in range(10000)]
        name, path, catalog = self.new_target(items, feed_source=True, sync=False)
        held = [dict(it, price="0.50 USD") for it in items]
        self.put_in_catalog(catalog, held)
        r = self.ps.run("run", name, check=0)
        self.assertIn("failed 0, pending 0, batches 20", r.stdout)
        ops = self.sent()
        self.assertEqual(ops.count(("UPDATE", "SKU-09999")), 1)
        self.assertEqual(len(ops), 20000)
        cat = self.sim.catalog(catalog)
        self.assertEqual(len(cat), 10000)
        self.assertTrue(all(cat[it["id"]]["attributes"]["price"] == it["price"]
                            for it in items))

    def test_answer_lost_after_pinterest_took_the_batch(self):
        """The POST's answer is lost after Pinterest recorded the batch; the batch
        is applied later: the CREATEs of the items sent again are refused, read
        back, and found in place."""
        items = [make_item(i) for i in range(20)]
        name, path, catalog = self.new_target(items, feed_source=True, sync=False)
        self.sim.config(background=True, fail_next=[
            {"path_prefix": BATCH, "method": "POST", "status": 0, "count": 1, "after": True}])
        codes = self.run_until_ok(name)
        self.assertEqual(self.errors(name), {})
        self.assert_converged(name, catalog, items)
        self.assertLessEqual(len(codes), 2)

    def test_crash_and_a_read_back_that_came_too_early(self):
        """A crash right after the POST; the next run's read-back sees nothing
        (its answer is unreadable) and Pinterest applies the batch afterwards:
        the items go out again, are refused as existing, and converge."""
        items = [make_item(i) for i in range(20)]
        name, path, catalog = self.new_target(items, feed_source=True, sync=False)
        self.sim.config(background=True, processing_polls=3)
        crashing = Pinsync(self.pg, self.sim, PINSYNC_CRASH_AT="after-post:1")
        self.assertEqual(crashing.run("run", name).returncode, -signal.SIGKILL)
        self.sim.catalog(catalog)  # Pinterest gets round to the batch
        self.sim.config(readback_garbage=1)
        self.sim.clear_requests()
        self.assertEqual(self.run_until_ok(name), [0])
        self.assertEqual([op for op, i in self.sent() if i == "SKU-00000"], ["CREATE"])
        self.assert_converged(name, catalog, items)

    def test_lost_batch_that_pinterest_had_applied(self):
        """Polling says 4331 (batch unknown) for a batch Pinterest had applied:
        the batch goes out again, its CREATEs are refused, read back, found."""
        items = [make_item(i) for i in range(10)]
        name, path, catalog = self.new_target(items, feed_source=True, sync=False)
        self.sim.config(background=True, lose_batches=1)
        ps = Pinsync(self.pg, self.sim, PINSYNC_POLL_INITIAL_MS="1500")

        def apply_when_posted():
            deadline = time.time() + 30
            while time.time() < deadline and not self.sim.batch_posts():
                time.sleep(0.02)
            self.sim.catalog(catalog)  # applied before the first poll loses it
        t = threading.Thread(target=apply_when_posted)
        t.start()
        r = ps.run("run", name, check=0)
        t.join()
        self.assertEqual(len(self.sim.batch_posts()), 2, r.stderr)
        self.assertEqual(self.errors(name), {})
        self.assert_converged(name, catalog, items)

    # -- an item Pinterest no longer has --------------------------------------------------

    def test_update_of_an_item_deleted_outside_pinsync(self):
        """UPDATE of an item deleted in Pinterest's UI is refused: read back, it
        is absent; pending, the next run sends it whole. (The drift sample is
        off here: with it the first run already finds and repairs it.)"""
        ps = Pinsync(self.pg, self.sim, PINSYNC_DRIFT_SAMPLE="0")
        for feed_source, whole in ((False, "UPSERT"), (True, "CREATE")):
            with self.subTest(feed_source=feed_source):
                items = [make_item(i) for i in range(10)]
                name, path, catalog = self.new_target(items, feed_source)
                self.sim.edit_catalog(catalog, delete=["SKU-00002"])
                items[2]["price"] = "7.77 USD"
                write_csv(path, items)
                r = ps.run("run", name, check=6)
                self.assertIn("failed 0, pending 1", r.stdout)
                state, why = self.errors(name)["SKU-00002"]
                self.assertEqual(state, "pending")
                self.assertIn("does not give the item", why)
                self.sim.clear_requests()
                self.assertEqual(self.run_until_ok(name, ps), [0])
                self.assertEqual(self.sent(), [(whole, "SKU-00002")])
                self.assert_converged(name, catalog, items)

    def test_drift_sample_finds_items_changed_outside_pinsync(self):
        """An unchanged item deleted, another edited in Pinterest: the run's
        read-back sample finds both and the same run repairs them."""
        for feed_source in (False, True):
            with self.subTest(feed_source=feed_source):
                items = [make_item(i) for i in range(12)]
                name, path, catalog = self.new_target(items, feed_source)
                self.sim.edit_catalog(catalog, delete=["SKU-00001"],
                                      set={"SKU-00002": {"price": "0.99 USD", "color": "red"}})
                r = self.ps.run("run", name, check=0)
                self.assertIn("drift: 2 of 12 items read back differed", r.stdout)
                self.assertEqual(self.last_run(name), ("ok", 0, 0, 2, 12))
                self.assertRegex(self.ps.run("status", name, check=0).stdout, r"\s2/12\s")
                # The edited item gets what differs (the price, and the colour
                # cleared); the deleted one goes out whole.
                ops = dict((i, op) for op, i in self.sent())
                self.assertEqual(ops, {"SKU-00002": "UPDATE",
                                       "SKU-00001": "CREATE" if feed_source else "UPSERT"})
                self.assert_converged(name, catalog, items)
                # In step again: the next sample finds nothing.
                self.ps.run("run", name, check=0)
                self.assertEqual(self.last_run(name)[3], 0)

    # -- UPSERT and catalogs with a feed data source ---------------------------------------

    def test_catalog_that_gains_a_feed_source(self):
        """Checked without a feed source, the catalog gets one: the UPSERTs it
        now refuses are read back and sent as CREATE in the same run, and new
        items go out as CREATE from then on."""
        items = [make_item(i) for i in range(5)]
        name, path, catalog = self.new_target(items)
        self.sim.set_feed_source(catalog, True)
        items.append(make_item(50))
        write_csv(path, items)
        r = self.ps.run("run", name, check=0)
        self.assertEqual(self.sent(), [("UPSERT", "SKU-00050"), ("CREATE", "SKU-00050")])
        self.assertIn("has a feed data source now", r.stderr)
        self.assertIn("feed source", self.ps.run("target", "list", check=0).stdout)
        self.assert_converged(name, catalog, items)
        items.append(make_item(51))
        write_csv(path, items)
        self.sim.clear_requests()
        self.ps.run("run", name, check=0)
        self.assertEqual(self.sent(), [("CREATE", "SKU-00051")])

    def test_api_owned_override_and_auto(self):
        items = [make_item(i) for i in range(3)]
        name, path, catalog = self.new_target(items, feed_source=True, sync=False)
        out = self.ps.run("target", "list", check=0).stdout
        self.assertRegex(out, rf"{name} .*feed source ")
        self.ps.run("target", "set", name, "--api-owned", "yes", check=0)
        self.assertIn("feed source (override: api-owned)",
                      self.ps.run("target", "list", check=0).stdout)
        # The override sends UPSERT, which this catalog refuses; the items are
        # then read back and created all the same, and the run says why.
        r = self.ps.run("run", name, check=0)
        self.assertIn("--api-owned yes", r.stderr)
        self.assertEqual([op for op, _ in self.sent()], ["UPSERT"] * 3 + ["CREATE"] * 3)
        self.assert_converged(name, catalog, items)
        self.ps.run("target", "set", name, "--api-owned", "auto", check=0)
        self.assertNotIn("override", self.ps.run("target", "list", check=0).stdout)

    def test_image_change_on_a_catalog_with_a_feed_source(self):
        """UPDATE cannot carry an image and UPSERT is refused: DELETE, then,
        once Pinterest confirmed it, CREATE, in batches in that order."""
        items = [make_item(i) for i in range(6)]
        name, path, catalog = self.new_target(items, feed_source=True)
        items[2]["image_link"] = "https://shop.example/images/new-2.jpg"
        items[3]["price"] = "9.00 USD"
        write_csv(path, items)
        self.ps.run("run", name, check=0)
        posts = self.sim.batch_posts()
        ops = [[(it["operation"], it["item_id"]) for it in b["items"]] for b in posts]
        self.assertEqual(ops, [[("UPDATE", "SKU-00003")], [("DELETE", "SKU-00002")],
                               [("CREATE", "SKU-00002")]])
        self.assert_converged(name, catalog, items)

    def test_rows_without_fingerprint_on_a_catalog_with_a_feed_source(self):
        """Snapshot rows written before migration 0006 have no fingerprint. On a
        catalog with a feed source they are read back, not UPSERTed."""
        items = [make_item(i) for i in range(6)]
        name, path, catalog = self.new_target(items, feed_source=True)
        self.pg.psql("UPDATE snapshot_items SET fp = NULL"
                     " WHERE item_id IN ('SKU-00000', 'SKU-00001')")
        items[0]["price"] = "4.44 USD"
        items[1]["image_link"] = "https://shop.example/images/new-1.jpg"
        write_csv(path, items)
        self.ps.run("run", name, check=0)
        self.assertEqual(sorted(self.sent()), sorted(
            [("UPDATE", "SKU-00000"), ("DELETE", "SKU-00001"), ("CREATE", "SKU-00001")]))
        self.assert_converged(name, catalog, items)

    # -- no verdict is not success ----------------------------------------------------------

    def test_items_without_a_verdict_are_pending_and_go_out_again(self):
        """Omitted from a COMPLETED batch, reported PROCESSING there, or with a
        status outside the spec: pending, the run is partial, the feed's ETag is
        not kept, and the next run downloads the feed again and sends them."""
        items = [make_item(i) for i in range(8)]
        name, path, catalog = self.new_target(items, url=True)
        for i in range(8):
            items[i]["price"] = "5.55 USD"
        write_csv(path, items)
        self.sim.config(omit_items=["SKU-00001"], processing_items=["SKU-00002"],
                        item_status={"SKU-00003": "QUEUED"})
        r = self.ps.run("run", name, check=6)
        self.assertIn("pending 3", r.stdout)
        self.assertIn('QUEUED\\" is not one pinsync knows', r.stderr)
        self.assertEqual(self.last_run(name)[:3], ("partial", 0, 3))
        self.assertRegex(self.ps.run("status", name, check=0).stdout,
                         r"partial\s+8\s+0\s+0\s+5\s+0\s+0\s+0\s+3\s")
        errs = self.errors(name)
        self.assertEqual(sorted(errs), ["SKU-00001", "SKU-00002", "SKU-00003"])
        self.assertEqual({s for s, _ in errs.values()}, {"pending"})
        self.assertIn("PROCESSING", errs["SKU-00002"][1])
        # Nothing wedged: pinsync poll has nothing left to do.
        self.ps.run("poll", name, check=0)
        downloads = self.server.downloads
        self.sim.clear_requests()
        self.ps.run("run", name, check=0)
        self.assertEqual(self.server.downloads, downloads + 1)
        self.assertEqual(sorted(self.sent()),
                         [("UPDATE", f"SKU-0000{i}") for i in (1, 2, 3)])
        self.assert_converged(name, catalog, items)
        # In sync: now the ETag is kept and the feed is not downloaded again.
        self.ps.run("run", name, check=0)
        self.assertEqual(self.server.downloads, downloads + 1)
        self.assertEqual(self.server.not_modified, 1)

    def test_failed_batch_without_records_lost_and_skipped_batches(self):
        """A FAILED batch that says nothing of its items, a batch lost at every
        poll, a batch skipped as a duplicate: their items are pending, never in
        sync, and the next run converges."""
        for knob in ({"failed_without_records": 1}, {"lose_batches": 4},
                     {"skip_batches": 1}):
            with self.subTest(**knob):
                items = [make_item(i) for i in range(5)]
                name, path, catalog = self.new_target(items, sync=False)
                self.sim.config(**knob)
                r = self.ps.run("run", name, check=6)
                self.assertIn("pending 5", r.stdout)
                self.assertEqual(self.last_run(name)[:3], ("partial", 0, 5))
                self.assertEqual({s for s, _ in self.errors(name).values()}, {"pending"})
                self.assertEqual(self.run_until_ok(name), [0])
                self.assert_converged(name, catalog, items)

    # -- recovery never guesses -----------------------------------------------------------

    def test_recovery_does_not_take_a_bad_read_back_as_a_delete(self):
        """A crash before the POST of a batch of DELETEs; the recovery's read-back
        is unreadable. The DELETEs are not counted applied (the items would stay
        on Pinterest forever): they go out again."""
        items = [make_item(i) for i in range(20)]
        name, path, catalog = self.new_target(items)
        del items[5:7]
        write_csv(path, items)
        crashing = Pinsync(self.pg, self.sim, PINSYNC_CRASH_AT="before-post:1")
        self.assertEqual(crashing.run("run", name).returncode, -signal.SIGKILL)
        self.sim.config(readback_garbage=1, readback_errors=["SKU-00005", "SKU-00006"])
        self.run_until_ok(name)
        self.assertEqual([op for op, _ in self.sent()], ["DELETE", "DELETE"])
        self.assert_converged(name, catalog, items)

    def test_recovery_leaves_items_read_back_with_an_error_pending(self):
        """A crash after the POST; the read-back answers the batch's items with
        errors: they are not counted applied, and go out again."""
        items = [make_item(i) for i in range(6)]
        name, path, catalog = self.new_target(items)
        items[1]["price"] = "2.22 USD"
        write_csv(path, items)
        crashing = Pinsync(self.pg, self.sim, PINSYNC_CRASH_AT="after-post:1")
        self.assertEqual(crashing.run("run", name).returncode, -signal.SIGKILL)
        self.sim.config(background=True, readback_errors=["SKU-00001"])
        self.sim.clear_requests()
        self.assertEqual(self.run_until_ok(name), [0])
        # Not counted applied: sent again (whole: the drift sample could not
        # read it either, so its state is unknown).
        self.assertEqual(self.sent(), [("UPSERT", "SKU-00001")])
        self.assert_converged(name, catalog, items)

    # -- a bad item costs only itself -------------------------------------------------------

    def test_one_item_the_schema_refuses_is_isolated(self):
        """The API refuses the whole batch (400) for one item: the batch is split
        until that item is alone; it is rejected with the API's message, the 39
        others land in the same run."""
        items = [make_item(i) for i in range(40)]
        name, path, catalog = self.new_target(items, sync=False)
        self.sim.config(refuse_items=["SKU-00013"])
        r = self.ps.run("run", name, check=6)
        self.assertIn("created 39", r.stdout)
        self.assertIn("failed 1, pending 0", r.stdout)
        state, why = self.errors(name)["SKU-00013"]
        self.assertEqual(state, "rejected")
        self.assertIn("not valid against the schema", why)
        self.assertEqual(len(self.errors(name)), 1)
        self.assertEqual(len(self.sim.catalog(catalog)), 39)
        splits = self.pg.psql("SELECT count(*) FROM batches WHERE state = 'split'")[0][0]
        self.assertGreater(int(splits), 0)
        # Fixed at the source, it goes out and the catalog is whole.
        self.sim.config(refuse_items=[])
        self.sim.clear_requests()
        self.ps.run("run", name, check=0)
        self.assertEqual(self.sent(), [("UPSERT", "SKU-00013")])
        self.assert_converged(name, catalog, items)

    def test_body_too_large_is_split(self):
        """413 for a body over the API's size: halves go out until they fit; an
        item too large on its own is rejected alone."""
        items = [make_item(i) for i in range(16)]
        items[9]["description"] = "x" * 9000
        name, path, catalog = self.new_target(items, sync=False)
        # Room for about four ordinary items, not for item 9.
        self.sim.config(max_body_bytes=2500)
        r = self.ps.run("run", name, check=6)
        self.assertIn("created 15", r.stdout)
        state, why = self.errors(name)["SKU-00009"]
        self.assertEqual(state, "rejected")
        self.assertIn("413", why)
        self.sim.config(max_body_bytes=None)
        self.run_until_ok(name)
        self.assert_converged(name, catalog, items)

    # -- reconcile ---------------------------------------------------------------------------

    def test_reconcile_reports_marks_and_fixes(self):
        items = [make_item(i) for i in range(10)]
        name, path, catalog = self.new_target(items)
        self.sim.edit_catalog(catalog, delete=["SKU-00004"],
                              set={"SKU-00006": {"price": "0.10 USD"},
                                   "SKU-00007": {"color": "red"}})
        r = self.ps.run("reconcile", name, "--all")
        self.assertEqual(r.returncode, 10, r.stdout + r.stderr)
        print("\n--- pinsync reconcile %s --all\n%s" % (name, r.stdout), file=sys.stderr)
        self.assertIn("drift SKU-00004: not on Pinterest", r.stdout)
        self.assertIn('drift SKU-00006 price: Pinterest has "0.10 USD", the snapshot has '
                      'another value', r.stdout)
        self.assertIn('drift SKU-00007 color: Pinterest has "red", the snapshot has none',
                      r.stdout)
        self.assertIn("10 items read back: 1 not on Pinterest, 2 changed outside pinsync",
                      r.stdout)
        # Marked: the next run repairs exactly those three.
        self.ps.run("run", name, check=0)
        self.assertEqual(sorted(i for _, i in self.sent()),
                         ["SKU-00004", "SKU-00006", "SKU-00007"])
        self.assert_converged(name, catalog, items)
        self.assertEqual(self.ps.run("reconcile", name, "--all").returncode, 0)
        # --fix repairs right away.
        self.sim.edit_catalog(catalog, delete=["SKU-00001"])
        r = self.ps.run("reconcile", name, "--sample", "50", "--fix")
        self.assertEqual(r.returncode, 10, r.stdout + r.stderr)
        self.assertIn("repairing them now", r.stdout)
        self.assert_converged(name, catalog, items)
        self.assertEqual(self.ps.run("reconcile", name, "--all").returncode, 0)
        self.ps.run("reconcile", name, "--all", "--sample", "3", check=2)


if __name__ == "__main__":
    unittest.main()
