#!/usr/bin/env python3
"""peer.py: what a user would write instead of pinsync's dry run, in Python.

    peer.py --db URL --target NAME FEED

Loads the target's snapshot (item id -> content hash) from PostgreSQL with
COPY ... TO STDOUT into a dict, parses the feed (RSS XML with lxml's
iterparse, clearing each item once read; CSV with the csv module; either
gzipped), hashes each item's fields and diffs: prints "CREATE id",
"UPDATE id" and "DELETE id" lines and a summary line

    peer: N to create, N to update, N to delete, N unchanged, of N items parsed

The hash is pinsync's canonical one (XXH3-64 over, in attrs.h's table order,
each present attribute's name length (2 bytes LE), name, value length
(8 bytes LE) and value; list values joined with 0x1f), so the peer diffs
against the very snapshot pinsync wrote. The benchmark feeds carry values
already in Pinterest's canonical spelling, so the peer only trims them: it
does no validation or normalisation, which is less work than pinsync does.

Needs python3-lxml, python3-psycopg2 and python3-xxhash (Debian packages).
"""

import argparse
import csv
import gzip
import io
import struct
import sys

import psycopg2
import xxhash
from lxml import etree

G = "{http://base.google.com/ns/1.0}"

# attrs.h's table order (the canonical order of the hash).
ORDER = """id title description link image_link price availability sale_price
sale_price_effective_date additional_image_link video_link mobile_link ad_link brand
condition gtin mpn item_group_id product_type google_product_category age_group gender
color size size_type size_system material pattern adult shipping shipping_weight
shipping_width shipping_height free_shipping_label free_shipping_limit tax
installment_price min_ad_price unit_pricing_measure unit_pricing_base_measure
average_review_rating number_of_ratings number_of_reviews promotion_id checkout_enabled
custom_label_0 custom_label_1 custom_label_2 custom_label_3 custom_label_4
custom_number_0 custom_number_1 custom_number_2 custom_number_3 custom_number_4
variant_names variant_values ios_deep_link android_deep_link""".split()
RANK = {name: i for i, name in enumerate(ORDER)}
HEAD = {name: struct.pack("<H", len(name)) + name.encode() for name in ORDER}
LISTS = {"additional_image_link", "variant_names", "variant_values"}


def item_hash(fields):
    """fields: {name: str}. Returns the signed 64-bit hash PostgreSQL holds."""
    h = xxhash.xxh3_64()
    for name in sorted(fields, key=RANK.__getitem__):
        v = fields[name].encode()
        h.update(HEAD[name] + struct.pack("<Q", len(v)) + v)
    d = h.intdigest()
    return d - (1 << 64) if d >= (1 << 63) else d


def load_snapshot(url, target):
    snap = {}
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute("SELECT id FROM targets WHERE name = %s", (target,))
    tid = cur.fetchone()[0]
    buf = io.StringIO()
    cur.copy_expert(
        f"COPY (SELECT item_id, hash FROM snapshot_items WHERE target_id = {int(tid)}) TO STDOUT",
        buf)
    conn.close()
    for line in buf.getvalue().splitlines():
        item_id, h = line.split("\t")
        snap[item_id] = int(h)
    return snap


def open_feed(path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def xml_items(path):
    with open_feed(path) as f:
        for _, elem in etree.iterparse(f, events=("end",), tag="item"):
            fields = {}
            for child in elem:
                tag = child.tag
                if not isinstance(tag, str) or not tag.startswith(G):
                    continue
                name = tag[len(G):]
                if name not in RANK or child.text is None:
                    continue
                text = child.text.strip()
                if not text:
                    continue
                if name in LISTS and name in fields:
                    fields[name] += "\x1f" + text
                elif name not in fields:
                    fields[name] = text
            yield fields
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]


def csv_items(path):
    with open_feed(path) as raw:
        f = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        cols = [(i, h) for i, h in enumerate(header) if h in RANK]
        for row in reader:
            if not row:
                continue
            fields = {}
            for i, name in cols:
                if i < len(row):
                    v = row[i].strip()
                    if v:
                        if name in LISTS:
                            v = "\x1f".join(p.strip() for p in v.split(",") if p.strip())
                        fields[name] = v
            yield fields


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--format", choices=["xml", "csv"], help="default: from the file name")
    ap.add_argument("feed")
    args = ap.parse_args()
    fmt = args.format or ("csv" if ".csv" in args.feed else "xml")

    snap = load_snapshot(args.db, args.target)
    seen = set()
    out = sys.stdout
    create = update = unchanged = parsed = 0
    for fields in (csv_items if fmt == "csv" else xml_items)(args.feed):
        parsed += 1
        item_id = fields.get("id")
        if not item_id or item_id in seen:
            continue
        seen.add(item_id)
        h = item_hash(fields)
        old = snap.get(item_id)
        if old is None:
            create += 1
            out.write(f"CREATE {item_id}\n")
        elif old != h:
            update += 1
            out.write(f"UPDATE {item_id}\n")
        else:
            unchanged += 1
    delete = 0
    for item_id in snap:
        if item_id not in seen:
            delete += 1
            out.write(f"DELETE {item_id}\n")
    out.write(f"peer: {create} to create, {update} to update, {delete} to delete, "
              f"{unchanged} unchanged, of {parsed} items parsed\n")


if __name__ == "__main__":
    main()
