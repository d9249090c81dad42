"""The right operation per item, from the simulator's request log: UPDATE
with an exact update_mask, UPSERT for image changes and API-owned catalogs,
the three on-missing policies, lost batches sent again, bounded batches in
flight, and batches left for `pinsync poll`."""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import (PgCluster, Pinsync, Simulator, SyncCase, fingerprint,  # noqa: E402
                     parse_fingerprint)
from test_sync import expected_attributes, make_item, write_csv  # noqa: E402


class OperationsTest(SyncCase):
    catalogs = 3000

    def setUp(self):
        self.sim.config(fail_items={}, processing_polls=1, lose_batches=0)
        self.sim.clear_requests()

    def target(self, name, items, *options):
        """A new target on a new catalog, synced once with items."""
        type(self).catalogs += 1
        catalog = str(self.catalogs)
        self.sim.add_catalog(catalog)
        path = os.path.join(self.tmp.name, name + ".csv")
        write_csv(path, items)
        self.ps.run("target", "add", name, "--feed", path, "--catalog-id", catalog,
                    "--country", "US", "--language", "en-US", *options, check=0)
        self.ps.run("run", name, check=0)
        self.sim.clear_requests()
        return path, catalog

    def sent_items(self):
        return [it for body in self.sim.batch_posts() for it in body["items"]]

    def catalog_attrs(self, catalog):
        return {k: v["attributes"] for k, v in self.sim.catalog(catalog).items()}

    def test_update_mask_names_exactly_the_changes(self):
        items = [make_item(i, sale_price="5.00 USD") for i in range(3)]
        path, catalog = self.target("mask", items)
        items[0]["sale_price"] = ""             # the sale ended
        items[1]["price"] = "77.00 USD"         # a new price
        items[1]["brand"] = ""                  # and the brand is gone
        items[2]["title"] = "New title"
        write_csv(path, items)
        self.ps.run("run", "mask", check=0)
        sent = {it["item_id"]: it for it in self.sent_items()}
        self.assertEqual(sent["SKU-00000"], {
            "operation": "UPDATE", "item_id": "SKU-00000", "attributes": {},
            "update_mask": ["sale_price"]})
        self.assertEqual(sent["SKU-00001"]["operation"], "UPDATE")
        self.assertEqual(sent["SKU-00001"]["attributes"], {"price": "77.00 USD"})
        self.assertEqual(sorted(sent["SKU-00001"]["update_mask"]), ["brand", "price"])
        self.assertEqual(sent["SKU-00002"]["attributes"], {"title": "New title"})
        self.assertEqual(sent["SKU-00002"]["update_mask"], ["title"])
        cat = self.catalog_attrs(catalog)
        self.assertNotIn("sale_price", cat["SKU-00000"])
        self.assertNotIn("brand", cat["SKU-00001"])
        for it in items:
            self.assertEqual(cat[it["id"]], expected_attributes(it))
        # The snapshot now holds the fingerprint of the whole item as Pinterest
        # has it (not only of what the UPDATE carried): nothing more to send.
        self.sim.clear_requests()
        self.ps.run("run", "mask", check=0)
        self.assertEqual(self.sent_items(), [])
        snap = self.pg.psql("SELECT item_id, encode(fp, 'hex') FROM snapshot_items"
                            " WHERE target_id = (SELECT id FROM targets WHERE name = 'mask')")
        self.assertEqual(len(snap), len(items))
        for item_id, fp in snap:
            self.assertEqual(parse_fingerprint(fp), fingerprint(cat[item_id]), item_id)

    def test_image_change_goes_out_as_upsert(self):
        items = [make_item(i) for i in range(2)]
        path, catalog = self.target("image", items)
        items[1]["image_link"] = "https://shop.example/images/new.jpg"
        items[1]["price"] = "1.00 USD"
        write_csv(path, items)
        self.ps.run("run", "image", check=0)
        sent = self.sent_items()
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["operation"], "UPSERT")
        self.assertNotIn("update_mask", sent[0])
        self.assertEqual(sent[0]["attributes"], expected_attributes(items[1]))
        self.assertEqual(self.catalog_attrs(catalog)["SKU-00001"], expected_attributes(items[1]))

    def test_api_owned_catalog_creates_with_upsert(self):
        items = [make_item(i) for i in range(2)]
        path, catalog = self.target("owned", items, "--api-owned", "yes")
        items.append(make_item(9))
        write_csv(path, items)
        self.ps.run("run", "owned", check=0)
        self.assertEqual([(i["operation"], i["item_id"]) for i in self.sent_items()],
                         [("UPSERT", "SKU-00009")])

    def test_on_missing_out_of_stock(self):
        items = [make_item(i) for i in range(4)]
        path, catalog = self.target("oos", items, "--on-missing", "out-of-stock",
                                    "--max-delete-ratio", "0.5")
        gone = items.pop(2)
        write_csv(path, items)
        self.ps.run("run", "oos", check=0)
        self.assertEqual(self.sent_items(), [{
            "operation": "UPDATE", "item_id": gone["id"],
            "attributes": {"availability": "out of stock"}, "update_mask": ["availability"]}])
        self.assertEqual(self.catalog_attrs(catalog)[gone["id"]]["availability"], "out of stock")
        # Still gone: not marked again.
        self.sim.clear_requests()
        self.ps.run("run", "oos", check=0)
        self.assertEqual(self.sent_items(), [])
        # Back in the feed: in stock again, with an UPDATE of availability.
        items.append(gone)
        write_csv(path, items)
        self.sim.clear_requests()
        self.ps.run("run", "oos", check=0)
        sent = self.sent_items()
        self.assertEqual([(i["operation"], i["update_mask"]) for i in sent],
                         [("UPDATE", ["availability"])])
        self.assertEqual(self.catalog_attrs(catalog)[gone["id"]], expected_attributes(gone))

    def test_on_missing_keep(self):
        items = [make_item(i) for i in range(3)]
        path, catalog = self.target("keep", items, "--on-missing", "keep")
        write_csv(path, items[:1])
        r = self.ps.run("run", "keep", check=0)
        self.assertEqual(self.sent_items(), [])
        self.assertEqual(len(self.sim.catalog(catalog)), 3)
        self.assertIn("deleted 0", r.stdout)

    def test_on_missing_delete_is_the_default(self):
        items = [make_item(i) for i in range(3)]
        path, catalog = self.target("del", items, "--max-delete-ratio", "0.5")
        write_csv(path, items[1:])
        self.ps.run("run", "del", check=0)
        self.assertEqual([(i["operation"], i["item_id"]) for i in self.sent_items()],
                         [("DELETE", "SKU-00000")])
        self.assertNotIn("SKU-00000", self.sim.catalog(catalog))

    def test_delete_guard_holds_mass_deletes(self):
        items = [make_item(i) for i in range(10)]
        path, catalog = self.target("guard", items)
        # The feed lost 3 of 10 items (30% > 20%) and one price changed.
        items[0]["price"] = "9.99 USD"
        write_csv(path, items[:7])
        r = self.ps.run("run", "guard", check=7)
        self.assertIn("held", r.stdout)
        self.assertIn("--allow-mass-delete", r.stdout)
        self.assertEqual([(i["operation"], i["item_id"]) for i in self.sent_items()],
                         [("UPDATE", "SKU-00000")])
        self.assertEqual(len(self.sim.catalog(catalog)), 10)
        self.assertRegex(self.ps.run("status", "guard", check=0).stdout, r"\bguard\s+\S+ \S+\s+held")
        # An empty feed: everything would go; nothing does.
        write_csv(path, [])
        self.sim.clear_requests()
        self.ps.run("run", "guard", check=7)
        self.assertEqual(self.sent_items(), [])
        # The operator says the feed is right.
        write_csv(path, items[:7])
        self.sim.clear_requests()
        self.ps.run("run", "guard", "--allow-mass-delete", check=0)
        self.assertEqual(sorted((i["operation"], i["item_id"]) for i in self.sent_items()),
                         [("DELETE", "SKU-00007"), ("DELETE", "SKU-00008"),
                          ("DELETE", "SKU-00009")])
        self.assertEqual(len(self.sim.catalog(catalog)), 7)

    def test_lost_batch_is_sent_again(self):
        self.sim.add_catalog("3900")
        path = os.path.join(self.tmp.name, "lost.csv")
        items = [make_item(i) for i in range(5)]
        write_csv(path, items)
        self.ps.run("target", "add", "lost", "--feed", path, "--catalog-id", "3900",
                    "--country", "US", "--language", "en-US", check=0)
        self.sim.config(lose_batches=1)
        r = self.ps.run("run", "lost", check=0)
        posts = self.sim.batch_posts()
        self.assertEqual(len(posts), 2)
        self.assertEqual(posts[0]["items"], posts[1]["items"])
        self.assertEqual(sorted(self.sim.catalog("3900")), [it["id"] for it in items])
        states = self.pg.psql("SELECT state FROM batches WHERE target_id = "
                              "(SELECT id FROM targets WHERE name = 'lost') ORDER BY id")
        self.assertEqual(states, [["lost"], ["completed"]])
        self.assertIn("created 5", r.stdout)

    def test_batch_skipped_as_duplicate_stays_dirty(self):
        self.sim.add_catalog("3903")
        path = os.path.join(self.tmp.name, "dup.csv")
        items = [make_item(i) for i in range(3)]
        write_csv(path, items)
        self.ps.run("target", "add", "dup", "--feed", path, "--catalog-id", "3903",
                    "--country", "US", "--language", "en-US", check=0)
        self.sim.config(skip_batches=1)
        r = self.ps.run("run", "dup", check=6)
        self.assertIn("created 0", r.stdout)
        self.assertIn("skipped as recent duplicates", r.stdout)
        self.assertEqual(self.pg.psql("SELECT DISTINCT status FROM batch_item_results bi"
                                      " JOIN targets t ON t.id = bi.target_id"
                                      " WHERE t.name = 'dup'"), [["SKIPPED"]])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM snapshot_items s JOIN targets t ON "
                                      "t.id = s.target_id WHERE t.name = 'dup'"), [["0"]])
        # The next run sends them again, and they land.
        self.sim.clear_requests()
        self.ps.run("run", "dup", check=0)
        self.assertEqual(len(self.sent_items()), 3)
        self.assertEqual(len(self.sim.catalog("3903")), 3)

    def test_first_batch_leaves_before_the_feed_ends(self):
        # The feed comes through a pipe (stdin): the test writes 1500 items,
        # waits for a batch to reach the simulator, and only then finishes
        # the feed. A pinsync that read the whole feed first would hang here.
        import csv
        import io
        import subprocess
        import time
        from test_sync import COLUMNS
        self.sim.add_catalog("3904")
        self.ps.run("target", "add", "stream", "--feed", "-", "--catalog-id", "3904",
                    "--country", "US", "--language", "en-US", "--format", "csv", check=0)

        def rows(lo, hi, header=False):
            out = io.StringIO()
            w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
            if header:
                w.writeheader()
            for i in range(lo, hi):
                w.writerow(make_item(i))
            return out.getvalue()

        p = subprocess.Popen([self.ps.bin, "run", "stream"], env=self.ps.env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdin.write(rows(0, 1500, header=True))
        p.stdin.flush()
        deadline = time.time() + 30
        while not self.sim.batch_posts() and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual([len(b["items"]) for b in self.sim.batch_posts()], [1000],
                         "no batch left while the feed was still open")
        p.stdin.write(rows(1500, 2200))
        p.stdin.close()
        p.wait(60)
        out, err = p.stdout.read(), p.stderr.read()
        p.stdout.close()
        p.stderr.close()
        self.assertEqual(p.returncode, 0, out + err)
        self.assertEqual(sorted(len(b["items"]) for b in self.sim.batch_posts()),
                         [200, 1000, 1000])
        self.assertEqual(len(self.sim.catalog("3904")), 2200)

    def test_progress_line_on_a_terminal_summary_elsewhere(self):
        import os
        import pty
        import subprocess
        items = [make_item(i) for i in range(3000)]
        path, catalog = self.target("progress", items[:10])
        write_csv(path, items)
        # Off a terminal: one summary line, no carriage returns.
        r = self.ps.run("run", "progress", check=0)
        lines = [l for l in r.stderr.splitlines() if "items |" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("| 3000 items | 2990 changes | batches 3 sent, 3 done", lines[0])
        self.assertNotIn("\r", r.stderr)
        # On a terminal: the line is redrawn in place as the run goes.
        write_csv(path, [make_item(i, price="1.23 USD") for i in range(3000)])
        master, slave = pty.openpty()
        env = dict(self.ps.env, PINSYNC_LOG_LEVEL="warn", PINSYNC_LOG_FORMAT="text")
        p = subprocess.Popen([self.ps.bin, "run", "progress"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        p.communicate(timeout=60)
        os.close(master)
        self.assertEqual(p.returncode, 0)
        text = seen.decode()
        self.assertGreaterEqual(text.count("\r"), 2, text)
        self.assertIn("3000 items | 3000 changes", text)

    def test_url_feed_unchanged_at_source_is_not_read_again(self):
        import http.server
        import io
        import threading
        import csv as csvmod
        from test_sync import COLUMNS
        state = {"version": 1, "gets": [], "body": b""}

        def render(items):
            out = io.StringIO()
            w = csvmod.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
            w.writeheader()
            for it in items:
                w.writerow(it)
            return out.getvalue().encode()

        class Shop(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                etag = f'"v{state["version"]}"'
                state["gets"].append(self.headers.get("If-None-Match"))
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(state["body"])))
                self.end_headers()
                self.wfile.write(state["body"])

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Shop)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            items = [make_item(i) for i in range(4)]
            state["body"] = render(items)
            self.sim.add_catalog("3905")
            url = f"http://127.0.0.1:{server.server_port}/feed.csv"
            self.ps.run("target", "add", "shopurl", "--feed", url, "--catalog-id", "3905",
                        "--country", "US", "--language", "en-US", check=0)
            self.ps.run("run", "shopurl", check=0)
            self.assertEqual(len(self.sim.catalog("3905")), 4)
            # Unchanged at source: 304, nothing parsed, nothing sent, nothing deleted.
            self.sim.clear_requests()
            r = self.ps.run("run", "shopurl", check=0)
            self.assertEqual(state["gets"][-1], '"v1"')
            self.assertIn(": unchanged", r.stdout)
            self.assertEqual(self.sim.batch_posts(), [])
            self.assertEqual(len(self.sim.catalog("3905")), 4)
            # A new version is read; an item Pinterest rejects keeps the next
            # run from trusting the validators, so the item is retried.
            items[0]["price"] = "2.00 USD"
            state["version"], state["body"] = 2, render(items)
            self.sim.config(fail_items={"SKU-00000": {"attribute": "price", "code": 109,
                                                      "message": "no"}})
            self.ps.run("run", "shopurl", check=6)
            self.sim.config(fail_items={})
            self.sim.clear_requests()
            self.ps.run("run", "shopurl", check=0)
            self.assertIsNone(state["gets"][-1])
            self.assertEqual([(i["operation"], i["item_id"]) for i in self.sent_items()],
                             [("UPDATE", "SKU-00000")])
            st = self.ps.run("status", "shopurl", check=0).stdout
            self.assertRegex(st, r"\bshopurl\s+\S+ \S+\s+unchanged\s+0\b")
        finally:
            server.shutdown()
            server.server_close()

    def test_batches_in_flight_are_bounded(self):
        # max 1 in flight, 2 PROCESSING answers per batch: every POST after
        # the first follows the previous batch's third (COMPLETED) poll.
        self.sim.add_catalog("3901")
        path = os.path.join(self.tmp.name, "flight.csv")
        write_csv(path, [make_item(i) for i in range(2500)])
        self.ps.run("target", "add", "flight", "--feed", path, "--catalog-id", "3901",
                    "--country", "US", "--language", "en-US", check=0)
        self.sim.config(processing_polls=2)
        ps = Pinsync(self.pg, self.sim, PINSYNC_MAX_INFLIGHT="1")
        ps.run("run", "flight", check=0)
        ids = [b["batch_id"] for b in self.sim._call("GET", "/_sim/batches")
               if b["catalog_id"] == "3901"]
        self.assertEqual(len(ids), 3)
        events = []
        for r in self.sim.requests():
            if r["method"] == "POST" and r["path"] == "/v5/catalogs/items/batch":
                events.append("POST")
            elif r["method"] == "GET" and "/catalogs/items/batch/" in r["path"]:
                events.append(ids.index(r["path"].rsplit("/", 1)[-1]))
        self.assertEqual(events, ["POST", 0, 0, 0, "POST", 1, 1, 1, "POST", 2, 2, 2])

    def test_batches_left_processing_are_finished_by_poll(self):
        self.sim.add_catalog("3902")
        path = os.path.join(self.tmp.name, "slow.csv")
        items = [make_item(i) for i in range(3)]
        write_csv(path, items)
        self.ps.run("target", "add", "slow", "--feed", path, "--catalog-id", "3902",
                    "--country", "US", "--language", "en-US", check=0)
        self.sim.config(processing_polls=1000000)
        quick = Pinsync(self.pg, self.sim, PINSYNC_POLL_TIMEOUT_S="1",
                        PINSYNC_POLL_MAX_MS="50")
        r = quick.run("run", "slow", check=6)
        self.assertIn("still processing", r.stdout)
        self.assertEqual(self.pg.psql("SELECT state FROM batches WHERE target_id = "
                                      "(SELECT id FROM targets WHERE name = 'slow')"),
                         [["sent"]])
        self.assertEqual(self.sim.catalog("3902"), {})
        # Pinterest finishes it; pinsync poll records it and recounts the run.
        for b in self.sim._call("GET", "/_sim/batches"):
            if b["catalog_id"] == "3902":
                self.sim._call("POST", "/_sim/batches/finish", {"batch_id": b["batch_id"]})
        out = self.ps.run("poll", "slow", check=0).stdout
        self.assertIn("1 batches polled: 3 items succeeded", out)
        st = self.ps.run("status", "slow", check=0).stdout
        self.assertRegex(st, r"\bslow\s+\S+ \S+\s+ok\s+3\s+0\s+3\b")
        self.assertEqual(len(self.sim.catalog("3902")), 3)
        self.assertEqual(self.ps.run("poll", "slow", check=0).stdout.strip(),
                         "slow: no batch in flight")


if __name__ == "__main__":
    unittest.main()
