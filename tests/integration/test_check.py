"""`pinsync check FEED`: local validation without a database or the API.

Exit codes (0 usable, 3 unusable, 2 usage/config), the counts and the JSON
shape, duplicates, the place of problems, presets and mapping files on the
command line, stdin (also gzipped), the NEGATIVE feed, and memory that
stays flat as the feed grows (peak RSS reported by check itself).

Whole feeds in two layers: the project's specimens (tests/fixtures/feeds/
specimens, every row of its INDEX.md) always; the real feeds of the shared
folder in addition, each such test skipped with the folder it looked for
named when that folder is absent."""

import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import REAL_FEEDS, SPECIMENS, pinsync_binary  # noqa: E402

HEADER = "id,title,description,link,image_link,price,availability\n"


def row(i, price="1.00 USD"):
    return f"{i},T{i},D,https://s.test/{i},https://s.test/{i}.jpg,{price},in stock\n"


def check(*args, stdin=None, expect=None, env=None):
    r = subprocess.run([pinsync_binary(), "check", *args], input=stdin, capture_output=True,
                       timeout=300, env=env)
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"check {args}: rc {r.returncode}, want {expect}\n"
                             f"{r.stdout.decode(errors='replace')}\n"
                             f"{r.stderr.decode(errors='replace')}")
    return r


def check_json(*args, **kw):
    r = check("--json", *args, **kw)
    return r, json.loads(r.stdout)


def real(name):
    """A real feed of the shared folder; the test is skipped, saying so, without it."""
    path = os.path.join(REAL_FEEDS, name)
    if not os.path.isdir(REAL_FEEDS):
        raise unittest.SkipTest(f"real-feed layer skipped: {REAL_FEEDS} not found (the shared "
                                "folder is absent; PINSYNC_SHARED_DIR names it)")
    if not os.path.exists(path):
        raise unittest.SkipTest(f"real-feed layer skipped: {name} not found in {REAL_FEEDS}")
    return path


def specimen(name):
    return os.path.join(SPECIMENS, name)


def specimen_index():
    """The rows of the table of the specimens' INDEX.md, as dicts by column name."""
    rows, header = [], None
    with open(specimen("INDEX.md"), encoding="utf-8") as fp:
        for line in fp:
            if not line.startswith("|"):
                if header:
                    break
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                if cells[0] == "file":
                    header = cells
            elif not cells[0].startswith("---"):
                rows.append(dict(zip(header, cells)))
    return rows


# INDEX.md's options (ps_feed_options fields) as check's flags.
OPTION_FLAGS = {"preset": "--preset", "default_currency": "--currency", "base_url": "--base-url",
                "max_inflated": "--max-gzip-bytes"}


def option_flags(options):
    flags = []
    for opt in options.split():
        if opt == "-":
            continue
        key, value = opt.split("=", 1)
        flags += [OPTION_FLAGS[key], value]
    return flags


class CheckTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ps_check_")

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as fp:
            fp.write(data if isinstance(data, bytes) else data.encode())
        return path

    def test_counts_problems_and_summary(self):
        feed = self.write("f.csv", HEADER + row(1) + row(2, "abc") + row(1) +
                          "4,T4,D,ftp://x,https://s.test/4.jpg,2 EUR,maybe\n")
        r, out = check_json(feed, expect=0)
        self.assertEqual((out["items"], out["valid"], out["invalid"], out["duplicates"]),
                         (4, 1, 2, 1))
        self.assertTrue(out["usable"])
        places = [(p["place"], p["attribute"], p["code"]) for p in out["problems"]]
        self.assertIn(("line 3", "price", "bad_price"), places)
        self.assertIn(("line 4", "id", "duplicate"), places)
        self.assertIn(("line 5", "link", "bad_url"), places)
        self.assertIn(("line 5", "availability", "bad_enum"), places)
        summary = {(k["code"], k["attribute"]): k["count"] for k in out["summary"]}
        self.assertEqual(summary[("duplicate", "id")], 1)
        self.assertEqual(summary[("bad_price", "price")], 1)
        for key in ("bytes", "seconds", "items_per_second", "peak_rss_kb", "warnings"):
            self.assertIn(key, out)
        # The text form says the same.
        r = check(feed, expect=0)
        text = r.stdout.decode()
        self.assertIn("items: 4  valid: 1  invalid: 2  duplicates: 1", text)
        self.assertIn("line 3 [2]: bad_price", text)
        self.assertIn("result: usable", text)

    def test_unusable_feeds(self):
        feed = self.write("bad.csv", HEADER + row(1, "abc"))
        r, out = check_json(feed, expect=3)
        self.assertEqual(out["reason"], "no item is valid")
        r, out = check_json(self.write("empty.xml", "   \n"), expect=3)
        self.assertIn("empty", out["reason"])
        r, out = check_json(self.write("cut.xml", '<rss><channel><item><id>1</id>'), expect=3)
        self.assertIn("truncated", out["reason"])

    def test_specimens_as_indexed(self):
        # Every specimen, with the options of its row: the counts, usable or
        # not, and the place and text of the error or the warning.
        rows = specimen_index()
        self.assertGreaterEqual(len(rows), 20)
        for row in rows:
            with self.subTest(specimen=row["file"]):
                items, valid, skipped = int(row["items"]), int(row["valid"]), int(row["skipped"])
                result, message = row["result"], row["message"]
                usable = result == "ok" and valid > 0
                r, out = check_json("--no-duplicates", *option_flags(row["options"]),
                                    specimen(row["file"]), expect=0 if usable else 3)
                self.assertEqual((out["items"], out["valid"], out["skipped"]),
                                 (items, valid, skipped))
                self.assertEqual(out["usable"], usable)
                if result == "ok":
                    if not usable:
                        self.assertEqual(out["reason"], "no item is valid")
                    if message != "-":
                        self.assertIn(message, "\n".join(out["warnings"]))
                    continue
                if ":" in result:
                    self.assertIn(f"{row['file']}:{result.split(':', 1)[1]}:", out["reason"])
                if message != "-":
                    self.assertIn(message, out["reason"])

    def test_negative_specimen_names_its_place(self):
        r, out = check_json(specimen("broken-raw-amp.xml"), expect=3)
        self.assertFalse(out["usable"])
        self.assertEqual(out["items"], 3)
        self.assertRegex(out["reason"], r"broken-raw-amp\.xml:36:\d+: not well-formed")

    def test_negative_real_feed_names_its_place(self):
        r, out = check_json(real("gmc-rss-m5zoon-MALFORMED-raw-amp.xml"), expect=3)
        self.assertFalse(out["usable"])
        self.assertRegex(out["reason"], r"MALFORMED-raw-amp\.xml:\d+:\d+: not well-formed")

    def test_specimen_duplicates_reported(self):
        # KK-PEN-01 twice: the later one is the duplicate, and not valid
        r, out = check_json(specimen("gmc-atom-kamikiri.xml"), expect=0)
        self.assertEqual((out["items"], out["valid"], out["invalid"], out["duplicates"]),
                         (6, 4, 1, 1))
        dup = [p for p in out["problems"] if p["code"] == "duplicate"]
        self.assertEqual((dup[0]["id"], dup[0]["place"]), ("KK-PEN-01", "item 5 (line 61)"))

    def test_real_duplicates_reported(self):
        r, out = check_json(real("gmc-rss-importpc-cz-minified.xml"), expect=0)
        self.assertEqual((out["items"], out["duplicates"]), (1255, 1))
        dup = [p for p in out["problems"] if p["code"] == "duplicate"]
        self.assertEqual(dup[0]["id"], "BC-FU-LI3560")
        r, out = check_json(real("gmc-atom-bigcommerce-ajmoss.xml"), expect=0)
        self.assertEqual(out["duplicates"], 2)

    def test_specimen_presets_and_options(self):
        r, out = check_json("--preset", "shopify", "--base-url", "https://fjellgarn.example",
                            "--currency", "NOK", specimen("shopify-export-fjellgarn.csv"),
                            expect=0)
        self.assertEqual((out["items"], out["valid"], out["skipped"]), (7, 6, 5))
        r, out = check_json("--currency", "AED", specimen("gmc-tsv-dar-al-oud.tsv"), expect=0)
        self.assertEqual(out["valid"], 5)
        # Without the currency those prices are invalid, and said so.
        r, out = check_json(specimen("gmc-tsv-dar-al-oud.tsv"), expect=3)
        self.assertEqual(out["valid"], 0)
        self.assertIn(("bad_price", "price"),
                      {(k["code"], k["attribute"]) for k in out["summary"]})

    def test_real_presets_and_options(self):
        r, out = check_json("--preset", "shopify", "--base-url", "https://shop.example",
                            "--currency", "EUR", real("shopify-export-luxemia.csv"), expect=0)
        self.assertEqual((out["items"], out["valid"], out["skipped"]), (200, 200, 10))
        r, out = check_json("--currency", "AED", real("gmc-tsv-m5zoon-en.tsv"), expect=0)
        self.assertGreater(out["valid"], 0)
        # Without the currency those prices are invalid, and said so.
        r, out = check_json(real("gmc-tsv-m5zoon-en.tsv"), expect=3)
        self.assertIn(("bad_price", "price"),
                      {(k["code"], k["attribute"]) for k in out["summary"]})

    def test_usage_and_config_errors(self):
        r = check(expect=2)
        self.assertIn("missing the FEED", r.stderr.decode())
        r = check("--format", "yaml", "x", expect=2)
        r = check("--bogus", "x", expect=2)
        feed = self.write("f.csv", HEADER + row(1))
        m = self.write("map.txt", "# map\ntitle = name\n")
        r = check("--map", m, feed, expect=2)
        self.assertIn(f"{m}:2: \"name\" is not a Pinterest attribute", r.stderr.decode())
        r = check("--preset", "prestashop", feed, expect=2)
        self.assertIn("unknown preset", r.stderr.decode())

    def test_stdin_plain_and_gzip(self):
        data = (HEADER + row(1) + row(2)).encode()
        r, out = check_json("-", stdin=data, expect=0)
        self.assertEqual(out["items"], 2)
        self.assertEqual(out["feed"], "stdin")
        r, out = check_json("-", stdin=gzip.compress(data), expect=0)
        self.assertEqual(out["items"], 2)
        # The gzipped specimen, through stdin: the items of its plain twin.
        with open(specimen("gmc-rss-atelier.xml.gz"), "rb") as fp:
            r, out = check_json("-", stdin=fp.read(), expect=0)
        self.assertEqual((out["items"], out["valid"]), (8, 6))
        # A gzip bomb stops at the cap given.
        bomb = gzip.compress((HEADER + row(1) * 200000).encode())
        r, out = check_json("--max-gzip-bytes", "1000000", "-", stdin=bomb, expect=3)
        self.assertIn("inflates to more than the cap", out["reason"])

    def hostile(self, name, middle, tail):
        """An RSS feed with one good item, then one whose <g:mpn> holds the
        pieces middle and tail yield. Written piece by piece: a peak RSS
        is kept across fork and exec, so the test's own must stay small."""
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as fp:
            fp.write(b'<?xml version="1.0"?>\n'
                     b'<rss xmlns:g="http://base.google.com/ns/1.0"><channel>\n'
                     b"<item><g:id>1</g:id><title>T</title><link>https://s.test/1</link>"
                     b"<g:image_link>https://s.test/1.jpg</g:image_link>"
                     b"<g:price>1.00 USD</g:price><g:availability>in stock</g:availability>"
                     b"</item>\n<item><g:id>2</g:id><g:mpn>")
            for piece in itertools.chain(middle, tail):
                fp.write(piece)
            fp.write(b"</g:mpn></item></channel></rss>\n")
        return path

    def refused_quickly(self, path, reason):
        t0 = time.monotonic()
        r, out = check_json(path, expect=3)
        took = time.monotonic() - t0
        self.assertIn(reason, out["reason"])
        self.assertIn(f"{path}:4:", out["reason"])  # the place: file, line, column
        self.assertEqual(out["items"], 1)  # the item before it is read
        print(f"\n{os.path.basename(path)} ({os.path.getsize(path) / 1e6:.1f} MB): exit "
              f"{r.returncode} in {took:.2f} s, peak RSS {out['peak_rss_kb']} KiB: "
              f"{out['reason'][len(path):]}", file=sys.stderr)
        if not os.environ.get("PINSYNC_SANITIZED"):
            self.assertLess(out["peak_rss_kb"], 64 * 1024, out)

    def test_hostile_depth(self):
        # 5,000,000 nested elements: libxml2's push parser keeps about 37
        # bytes per open level (a 55 MB feed took 190 MB); refused at 65.
        n, step = 5_000_000, 100_000
        self.refused_quickly(
            self.hostile("deep.xml", (b"<x>" * step for _ in range(n // step)),
                         (b"</x>" * step for _ in range(n // step))),
            "elements nested deeper than 64 (<x> would be level 65)")

    def test_hostile_attributes(self):
        # One element with 600,000 attributes (about 7 MB): libxml2 checks
        # them pairwise (145 s); refused at the '=' of the 65th.
        self.refused_quickly(
            self.hostile("attrs.xml", itertools.chain(
                [b"<x"], (b"".join(b' a%d="v"' % i for i in range(k, k + 10_000))
                          for k in range(0, 600_000, 10_000))), [b"/>"]),
            "more than 64 attributes on one element (<x>)")

    @unittest.skipIf(os.environ.get("PINSYNC_SANITIZED"),
                     "ASan's quarantine keeps freed memory: figures only in the plain build")
    def test_memory_stays_flat(self):
        # Peak RSS for 10k and 300k items is the same within noise: the
        # parser holds one piece of the feed at a time. (check's own id set
        # for duplicates grows 8-16 bytes per item: --no-duplicates.)
        def gen(n):
            path = os.path.join(self.tmp, f"gen{n}.csv")
            with open(path, "w") as fp:
                fp.write(HEADER)
                for i in range(n):
                    fp.write(row(i))
            return path
        _, small = check_json("--no-duplicates", gen(10000), expect=0)
        _, big = check_json("--no-duplicates", gen(300000), expect=0)
        self.assertEqual(big["items"], 300000)
        grow = big["peak_rss_kb"] - small["peak_rss_kb"]
        print(f"\npeak RSS: 10k items {small['peak_rss_kb']} KiB, "
              f"300k items {big['peak_rss_kb']} KiB", file=sys.stderr)
        self.assertLess(grow, 2 * 1024, (small, big))


if __name__ == "__main__":
    unittest.main()
