"""End-to-end syncs: a real PostgreSQL, the simulator, the pinsync binary.

Asserts from the simulator's request log exactly what was sent, and from its
catalog dump that Pinterest ends up holding what the feed says.
"""

import csv
import io
import os
import pty
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (PgCluster, Pinsync, Simulator, SyncCase, fingerprint,  # noqa: E402
                     parse_fingerprint)

COLUMNS = ["id", "title", "description", "link", "image_link", "price", "availability",
           "sale_price", "brand"]


def make_item(i, price=None, **over):
    item = {
        "id": f"SKU-{i:05d}",
        "title": f"Product {i} \u2013 caf\u00e9 edition",
        "description": f"Description of product {i}, with \"quotes\", commas\nand a newline.",
        "link": f"https://shop.example/products/{i}",
        "image_link": f"https://shop.example/images/{i}.jpg",
        "price": price or f"{10 + i % 90}.99 USD",
        "availability": "in stock",
        "sale_price": "",
        "brand": "Acme",
    }
    item.update(over)
    return item


def write_csv(path, items):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\r\n")
        w.writeheader()
        for it in items:
            w.writerow(it)


def write_rss(path, items):
    from xml.sax.saxutils import escape
    out = io.StringIO()
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>'
              '<title>t</title>\n')
    for it in items:
        out.write("<item>")
        for k in COLUMNS:
            if it.get(k):
                out.write(f"<g:{k}>{escape(it[k])}</g:{k}>")
        out.write("</item>\n")
    out.write("</channel></rss>\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(out.getvalue())


def expected_attributes(item):
    """What Pinterest should hold for a feed row (the feed is already in
    Pinterest's canonical spelling)."""
    return {k: v for k, v in item.items() if k != "id" and v}


def assert_converged(case, name, catalog, items):
    """The simulator's catalog holds exactly the feed's items, and target
    name's snapshot exactly what Pinterest holds (attribute fingerprints).
    case: a SyncCase (its sim and pg)."""
    cat = case.sim.catalog(catalog)
    want = {it["id"]: expected_attributes(it) for it in items}
    case.assertEqual(sorted(cat), sorted(want))
    for item_id, attrs in want.items():
        case.assertEqual(cat[item_id]["attributes"], attrs, item_id)
    rows = case.pg.psql(
        "SELECT item_id, encode(fp, 'hex') FROM snapshot_items s JOIN targets t "
        f"ON t.id = s.target_id WHERE t.name = '{name}'")
    snap = {r[0]: parse_fingerprint(r[1]) for r in rows}
    case.assertEqual(sorted(snap), sorted(want))
    for item_id, fp in snap.items():
        case.assertEqual(fp, fingerprint(cat[item_id]["attributes"]), item_id)


class SyncTest(SyncCase):
    SIM_ARGS = ('--processing-polls', '2')

    def setUp(self):
        self.sim.config(fail_items={})
        self.sim.clear_requests()

    def add_target(self, name, path, fmt="auto", catalog="1001", feed_source=False):
        if catalog != "1001":
            self.sim.add_catalog(catalog, feed_source=feed_source)
        self.ps.run("target", "add", name, "--feed", path, "--catalog-id", catalog,
                    "--country", "US", "--language", "en-US", "--format", fmt, check=0)

    def sent(self):
        """(operation, item_id) of every item of every batch POST."""
        ops = []
        for body in self.sim.batch_posts():
            self.assertLessEqual(len(body["items"]), 1000)
            self.assertEqual(body["country"], "US")
            self.assertEqual(body["language"], "en-US")
            for it in body["items"]:
                ops.append((it["operation"], it["item_id"]))
        return ops

    def assert_catalog_equals(self, items, catalog="1001"):
        cat = self.sim.catalog(catalog)
        expected = {it["id"]: expected_attributes(it) for it in items}
        self.assertEqual(sorted(cat), sorted(expected))
        for item_id, want in expected.items():
            got = cat[item_id]["attributes"]
            self.assertEqual(got, want, f"item {item_id}")

    def snapshot_ids(self, target):
        rows = self.pg.psql(
            "SELECT item_id FROM snapshot_items s JOIN targets t ON t.id = s.target_id "
            f"WHERE t.name = '{target}' ORDER BY 1")
        return [r[0] for r in rows]

    def test_csv_create_change_delete_then_nothing(self):
        # A catalog fed by the API alone takes new items as UPSERT (idempotent);
        # one with a feed data source refuses UPSERT, so they go as CREATE.
        self.create_change_delete("csvshop", "2001", feed_source=False, new_op="UPSERT")

    def test_csv_create_change_delete_on_a_catalog_with_a_feed_source(self):
        self.create_change_delete("csvfed", "2011", feed_source=True, new_op="CREATE")
        self.assertIn("feed source", self.ps.run("target", "list", check=0).stdout)

    def create_change_delete(self, name, catalog, feed_source, new_op):
        path = os.path.join(self.tmp.name, f"{name}.csv")
        items = [make_item(i) for i in range(40)]
        write_csv(path, items)
        self.add_target(name, path, catalog=catalog, feed_source=feed_source)
        self.sim.clear_requests()

        r = self.ps.run("run", name, check=0)
        self.assertIn("created 40", r.stdout)
        self.assertEqual(sorted(self.sent()), sorted((new_op, it["id"]) for it in items))
        self.assertEqual(("has a feed data source" in r.stderr), feed_source, r.stderr)
        self.assert_catalog_equals(items, catalog)
        self.assertEqual(self.snapshot_ids(name), sorted(it["id"] for it in items))

        # Change three prices, end one sale, remove two items, add four.
        items[1]["price"] = "1.00 USD"
        items[2]["price"] = "2.00 USD"
        items[3]["price"] = "3.00 USD"
        removed = [items.pop(10)["id"], items.pop(20)["id"]]
        added = [make_item(i) for i in range(100, 104)]
        items += added
        write_csv(path, items)
        self.sim.clear_requests()
        r = self.ps.run("run", name, check=0)
        want = ([("UPDATE", items[i]["id"]) for i in (1, 2, 3)]
                + [(new_op, it["id"]) for it in added]
                + [("DELETE", rid) for rid in removed])
        self.assertEqual(sorted(self.sent()), sorted(want))
        self.assertEqual(len(self.sim.batch_posts()), 1)
        self.assert_catalog_equals(items, catalog)
        self.assertIn("created 4, updated 3, deleted 2, unchanged 35", r.stdout)

        # The same feed again: nothing at all is sent.
        self.sim.clear_requests()
        r = self.ps.run("run", name, check=0)
        self.assertEqual(self.sim.batch_posts(), [])
        self.assertIn("unchanged 42", r.stdout)
        self.assertIn("batches 0", r.stdout)

    def test_ids_with_escapes_read_back_from_the_snapshot(self):
        """The snapshot is streamed back with COPY's text format: ids holding a
        backslash, a quote, a comma or non-ASCII must come back byte for byte, or
        the next run would see them as new."""
        path = os.path.join(self.tmp.name, "odd.csv")
        items = [make_item(i) for i in range(4)]
        for it, item_id in zip(items, ["A\\B", "C\\\\tD", 'E"F,G', "H\u00e9\u00df-1"]):
            it["id"] = item_id
        write_csv(path, items)
        self.add_target("oddids", path, catalog="2099")
        self.ps.run("run", "oddids", check=0)
        self.assertEqual(self.snapshot_ids("oddids"), sorted(it["id"] for it in items))
        self.sim.clear_requests()
        r = self.ps.run("run", "oddids", check=0)
        self.assertEqual(self.sim.batch_posts(), [])
        self.assertIn("unchanged 4", r.stdout)

    def test_sale_price_ends(self):
        path = os.path.join(self.tmp.name, "sale.csv")
        items = [make_item(i, sale_price="5.00 USD") for i in range(3)]
        write_csv(path, items)
        self.add_target("sale", path, catalog="2002")
        self.ps.run("run", "sale", check=0)
        self.assertEqual(self.sim.catalog("2002")["SKU-00001"]["attributes"]["sale_price"],
                         "5.00 USD")
        items[1]["sale_price"] = ""
        write_csv(path, items)
        self.ps.run("run", "sale", check=0)
        self.assertNotIn("sale_price", self.sim.catalog("2002")["SKU-00001"]["attributes"])
        self.assert_catalog_equals(items, "2002")

    def test_rss_xml_feed(self):
        path = os.path.join(self.tmp.name, "shop.xml")
        items = [make_item(i) for i in range(25)]
        write_rss(path, items)
        self.add_target("rssshop", path, catalog="2003")
        self.ps.run("run", "rssshop", check=0)
        self.assert_catalog_equals(items, "2003")
        items[5]["title"] = 'Renamed & "quoted" 1 < 2'
        del items[7]
        write_rss(path, items)
        self.sim.clear_requests()
        self.ps.run("run", "rssshop", check=0)
        self.assertEqual(sorted(self.sent()),
                         sorted([("UPDATE", items[5]["id"]), ("DELETE", "SKU-00007")]))
        self.assert_catalog_equals(items, "2003")

    def test_rejected_item_is_recorded_and_resent(self):
        path = os.path.join(self.tmp.name, "reject.csv")
        items = [make_item(i) for i in range(5)]
        write_csv(path, items)
        self.add_target("reject", path, catalog="2004")
        self.sim.config(fail_items={"SKU-00003": {
            "attribute": "price", "code": 109, "message": "Price is not valid for this market"}})
        r = self.ps.run("run", "reject", check=6)
        self.assertIn("failed 1, pending 0", r.stdout)
        self.assertNotIn("SKU-00003", self.snapshot_ids("reject"))
        self.assertNotIn("SKU-00003", self.sim.catalog("2004"))
        rows = self.pg.psql(
            "SELECT bi.status, e->>'attribute', e->>'code', e->>'message' FROM batch_item_results bi, "
            "jsonb_array_elements(bi.errors) e WHERE bi.item_id = 'SKU-00003'")
        self.assertEqual(rows, [["FAILURE", "price", "109",
                                 "Price is not valid for this market"]])
        errs = self.ps.run("errors", "reject", check=0).stdout
        self.assertIn("SKU-00003", errs)
        self.assertIn("Price is not valid for this market", errs)
        self.assertRegex(errs, r"SKU-00003\s+UPSERT\s+rejected\s+pinterest\s+price\s+109")
        self.assertIn("(1 error, 0 pending)", errs)
        js = self.ps.run("errors", "reject", "--format", "json", check=0).stdout
        self.assertIn('"attribute":"price"', js)

        # Next run: the rejected item goes out again, the others do not.
        self.sim.config(fail_items={})
        self.sim.clear_requests()
        self.ps.run("run", "reject", check=0)
        self.assertEqual(self.sent(), [("UPSERT", "SKU-00003")])
        self.assert_catalog_equals(items, "2004")
        self.assertIn("SKU-00003", self.snapshot_ids("reject"))

    def test_invalid_item_is_not_sent(self):
        path = os.path.join(self.tmp.name, "invalid.csv")
        items = [make_item(i) for i in range(4)]
        items[2]["price"] = "cheap"
        items[3]["title"] = ""
        write_csv(path, items)
        self.add_target("invalid", path, catalog="2005")
        r = self.ps.run("run", "invalid", check=6)
        self.assertIn("invalid 2", r.stdout)
        self.assertEqual(sorted(self.sent()), [("UPSERT", "SKU-00000"), ("UPSERT", "SKU-00001")])
        rows = self.pg.psql("SELECT item_id, place, attribute, code FROM item_problems "
                            "ORDER BY item_id")
        # Each record spans two lines (its description holds a newline), so
        # rows start at lines 2, 4, 6, 8: the place is the record's first line.
        self.assertIn(["SKU-00002", "line 6", "price", "bad_price"], rows)
        self.assertIn(["SKU-00003", "line 8", "title", "missing"], rows)

    def test_batches_of_at_most_1000(self):
        path = os.path.join(self.tmp.name, "big.csv")
        items = [make_item(i) for i in range(2500)]
        write_csv(path, items)
        self.add_target("big", path, catalog="2006")
        r = self.ps.run("run", "big", check=0)
        sizes = [len(b["items"]) for b in self.sim.batch_posts()]
        self.assertEqual(sizes, [1000, 1000, 500])
        self.assertIn("batches 3", r.stdout)
        self.assertEqual(len(self.sim.catalog("2006")), 2500)

    def test_dry_run_changes_nothing(self):
        path = os.path.join(self.tmp.name, "dry.csv")
        items = [make_item(i) for i in range(6)]
        write_csv(path, items)
        self.add_target("dry", path, catalog="2007")
        self.ps.run("run", "dry", check=0)
        items[0]["price"] = "99.00 USD"
        del items[1]
        items.append(make_item(50))
        write_csv(path, items)
        self.sim.clear_requests()
        r = self.ps.run("run", "--dry-run", "dry", check=0)
        self.assertIn("UPDATE SKU-00000 [price]", r.stdout)
        self.assertIn("DELETE SKU-00001", r.stdout)
        # The first run found the catalog without a feed data source.
        self.assertIn("UPSERT SKU-00050", r.stdout)
        self.assertIn("1 to create, 1 to update, 1 to delete, 0 to mark out of stock, "
                      "4 unchanged", r.stdout)
        self.assertEqual([x for x in self.sim.requests() if x["method"] == "POST"], [])
        self.assertIn("SKU-00001", self.snapshot_ids("dry"))
        # The real run afterwards still sends exactly the plan.
        self.ps.run("run", "dry", check=0)
        self.assertEqual(sorted(self.sent()), sorted(
            [("UPDATE", "SKU-00000"), ("DELETE", "SKU-00001"), ("UPSERT", "SKU-00050")]))

    def run_on_terminal(self, *args):
        """Runs pinsync ARGS with stdout on a pseudo-terminal; returns (status, its text)."""
        master, slave = pty.openpty()
        p = subprocess.Popen([self.ps.bin] + list(args), env=self.ps.env, stdout=slave,
                             stderr=subprocess.DEVNULL)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return p.wait(60), out.decode().replace("\r\n", "\n")

    def test_dry_run_plan_where_asked(self):
        # Issue 15: a terminal gets the plan's counts and first ids per
        # operation, --plan FILE every line, a pipe every line as before.
        path = os.path.join(self.tmp.name, "plan.csv")
        items = [make_item(i) for i in range(2)]
        write_csv(path, items)
        self.add_target("plan", path, catalog="2017")
        self.ps.run("run", "plan", check=0)
        self.sim.clear_requests()
        items[0]["price"] = "99.00 USD"
        items += [make_item(i) for i in range(100, 128)]
        write_csv(path, items)
        new = [f"UPSERT SKU-{i:05d}" for i in range(100, 128)]

        rc, out = self.run_on_terminal("run", "--dry-run", "plan")
        self.assertEqual(rc, 0, out)
        self.assertIn("UPSERT: 28 items\n", out)
        self.assertEqual(len([x for x in out.splitlines() if x.startswith("  UPSERT ")]), 10, out)
        self.assertIn("  ... and 18 more\n", out)
        self.assertIn("UPDATE: 1 item\n  UPDATE SKU-00000 [price]\n", out)
        self.assertIn("the full plan: pinsync run --dry-run plan --plan FILE", out)
        self.assertIn("28 to create, 1 to update, 0 to delete", out)

        plan = os.path.join(self.tmp.name, "plan.txt")
        r = self.ps.run("run", "--dry-run", "--plan", plan, "--show", "3", "plan", check=0)
        with open(plan) as f:
            lines = f.read().splitlines()
        self.assertEqual(sorted(x for x in lines if x.startswith("UPSERT")), new)
        self.assertIn("UPDATE SKU-00000 [price]", lines)
        self.assertEqual(len(lines), 29)
        self.assertEqual(len([x for x in r.stdout.splitlines() if x.startswith("  UPSERT ")]), 3)
        self.assertIn("  ... and 25 more\n", r.stdout)
        self.assertIn("28 to create, 1 to update", r.stdout)

        # "-": the full plan on the terminal too; a pipe gets it whole as before.
        rc, out = self.run_on_terminal("run", "--dry-run", "--plan", "-", "plan")
        self.assertEqual(sorted(x for x in out.splitlines() if x.startswith("UPSERT ")), new)
        r = self.ps.run("run", "--dry-run", "plan", check=0)
        self.assertEqual(sorted(x for x in r.stdout.splitlines() if x.startswith("UPSERT ")), new)
        self.assertNotIn("more", r.stdout)

        r = self.ps.run("run", "--plan", plan, "plan", check=2)
        self.assertIn("--plan needs --dry-run", r.stderr)
        self.ps.run("run", "--dry-run", "--show", "x", "plan", check=2)
        self.assertEqual([x for x in self.sim.requests() if x["method"] == "POST"], [])

    def test_truncated_feed_deletes_nothing(self):
        path = os.path.join(self.tmp.name, "trunc.xml")
        items = [make_item(i) for i in range(10)]
        write_rss(path, items)
        self.add_target("trunc", path, catalog="2008")
        self.ps.run("run", "trunc", check=0)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text[: text.index("SKU-00004")])  # cut mid-document
        self.sim.clear_requests()
        r = self.ps.run("run", "trunc", check=3)
        self.assertIn("no item was deleted", r.stdout + r.stderr)
        self.assertNotIn("DELETE", [op for op, _ in self.sent()])
        self.assertEqual(len(self.sim.catalog("2008")), 10)
        self.assertEqual(len(self.snapshot_ids("trunc")), 10)
        st = self.ps.run("status", "trunc", check=0).stdout
        self.assertIn("failed", st)

    def test_batch_refused_whole_is_reported(self):
        # A language outside Pinterest's enums: the spec rejects the body.
        path = os.path.join(self.tmp.name, "lang.csv")
        write_csv(path, [make_item(i) for i in range(3)])
        self.sim.add_catalog("2010")
        self.ps.run("target", "add", "lang", "--feed", path, "--catalog-id", "2010",
                    "--country", "US", "--language", "xx-XX", check=0)
        r = self.ps.run("run", "lang", check=6)
        self.assertIn("failed 3", r.stdout)
        self.assertEqual(self.snapshot_ids("lang"), [])
        errs = self.ps.run("errors", "lang", "--format", "csv", check=0).stdout.splitlines()
        self.assertEqual(len(errs), 4, errs)
        self.assertIn("HTTP 400", errs[1])
        self.assertIn("language", errs[1])

    def test_status_lists_runs(self):
        path = os.path.join(self.tmp.name, "st.csv")
        write_csv(path, [make_item(i) for i in range(2)])
        self.add_target("st", path, catalog="2009")
        self.ps.run("run", "st", check=0)
        out = self.ps.run("status", "st", check=0).stdout
        # parsed, invalid, created, updated, deleted, unchanged, failed, pending,
        # batches
        self.assertRegex(out, r"\bst\s+\S+ \S+\s+ok\s+2\s+0\s+2\s+0\s+0\s+0\s+0\s+0\s+1")
        self.ps.run("status", "nosuch", check=2)


if __name__ == "__main__":
    unittest.main()
