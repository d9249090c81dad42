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
already in Pinterest's canonical spelling, so the peer only trims them and,
as pinsync does (feeds/html.c), turns a title or description that holds
tags or entities into text: tags dropped, block tags made line breaks,
<script> and <style> dropped with their content, comments dropped, the same
entities decoded, blanks collapsed. That is one regular expression over
tags, comments and entities plus a loop over what it finds (what a Python
programmer would write: html.parser is slower, html.unescape decodes more
entities than pinsync, so its text would hash differently). It does no
validation or other normalisation, which is less work than pinsync does.

Needs python3-lxml, python3-psycopg2 and python3-xxhash (Debian packages).
"""

import argparse
import csv
import gzip
import io
import re
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
TEXT = {"title", "description"}  # HTML turned to text


# ---- HTML to text, as feeds/html.c does it

ENTITIES = {
    "amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": "\xa0",
    "ndash": "\u2013", "mdash": "\u2014", "lsquo": "\u2018", "rsquo": "\u2019",
    "ldquo": "\u201c", "rdquo": "\u201d", "bull": "\u2022", "hellip": "\u2026",
    "copy": "\xa9", "reg": "\xae", "trade": "\u2122", "deg": "\xb0", "euro": "\u20ac",
    "pound": "\xa3", "yen": "\xa5", "cent": "\xa2", "times": "\xd7", "frac12": "\xbd",
    "frac14": "\xbc", "frac34": "\xbe", "middot": "\xb7", "laquo": "\xab", "raquo": "\xbb",
    "eacute": "\xe9", "egrave": "\xe8", "agrave": "\xe0", "aacute": "\xe1", "ccedil": "\xe7",
    "uuml": "\xfc", "ouml": "\xf6", "auml": "\xe4", "Uuml": "\xdc", "Ouml": "\xd6",
    "Auml": "\xc4", "szlig": "\xdf", "oacute": "\xf3", "iacute": "\xed", "uacute": "\xfa",
    "ntilde": "\xf1", "shy": "", "zwj": "", "zwnj": "", "prime": "\u2032", "Prime": "\u2033",
}
# A comment (an open one runs to the end), a tag (quoted values may hold
# '<' and '>'; a bare '<' inside makes it text), or an entity.
MARKUP = re.compile(r"""<!--.*?(?:-->|\Z)
                      |<[A-Za-z/!](?:[^<>"']|"[^"]*"|'[^']*')*>
                      |&(?:\#[xX]([0-9A-Fa-f]{1,8})|\#([0-9]{1,8})|([A-Za-z][A-Za-z0-9]{0,7}));
                    """, re.S | re.X)
BLOCK = re.compile(r"</?(?:p|br|div|li|ul|ol|tr|table|h[1-6]|blockquote|section|article|header"
                   r"|footer|dd|dt|dl|hr|pre)(?![A-Za-z])", re.I)
BR = re.compile(r"</?br(?![A-Za-z])", re.I)
SKIP = re.compile(r"<(?:script|style)(?![A-Za-z])", re.I)
SKIP_END = re.compile(r"</(?:script|style)(?![A-Za-z])", re.I)
BLANKS = re.compile(r"[ \t\n\r\f\v]+")
SPACE = " \t\n\r\f\v"


def entity_text(m):
    """The text of entity match m, or None when pinsync would keep it as is."""
    hex_, dec, name = m.group(1, 2, 3)
    if name is not None:
        return ENTITIES.get(name)
    cp = int(hex_, 16) if hex_ is not None else int(dec)
    if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        cp = 0xFFFD
    return chr(cp)


def looks_html(s):
    """Whether s holds a tag, a comment or a known entity (str.find first:
    most plain text has no '<' and few '&')."""
    for c in "<&":
        i = s.find(c)
        while i >= 0:
            m = MARKUP.match(s, i)
            if m is not None and (c == "<" or entity_text(m) is not None):
                return True
            i = s.find(c, i + 1)
    return False


def html_to_text(s):
    out = []
    nl = sp = 0  # pending line breaks, pending space

    def text(t):
        nonlocal nl, sp
        if nl and out:
            out.append("\n" * min(nl, 2))
        elif sp and out:
            out.append(" ")
        nl = sp = 0
        out.append(t)

    def plain(t):  # text between markup: blanks collapse
        nonlocal sp
        core = BLANKS.sub(" ", t)
        if core[0] == " ":
            sp = 1
        core = core.strip(" ")
        if core:
            text(core)
            if t[-1] in SPACE:
                sp = 1

    i, n = 0, len(s)
    while i < n:
        m = MARKUP.search(s, i)
        if m is None:
            plain(s[i:])
            break
        if m.start() > i:
            plain(s[i:m.start()])
        tok = m.group(0)
        i = m.end()
        if tok[0] == "&":
            t = entity_text(m)
            if t is None:
                text(tok)
            elif t in SPACE or t == "\xa0":
                if t:
                    sp = 1
            else:
                text(t)
            continue
        if tok.startswith("<!--"):
            continue
        if out and BLOCK.match(tok):
            nl = nl + (1 if BR.match(tok) else 2) if nl < 2 else nl
        if tok[1] != "/" and SKIP.match(tok):
            e = SKIP_END.search(s, i)
            if e is None:
                break
            i = e.start()
            end = MARKUP.match(s, i)
            if end is not None and end.group(0)[0] == "<" and not end.group(0).startswith("<!--"):
                i = end.end()
    return "".join(out)


def clean(name, v):
    """Trims v; a title or description with markup becomes text (html.c)."""
    v = v.strip(SPACE)
    if name == "description":
        if "\r" in v:
            v = v.replace("\r\n", "\n").replace("\r", "\n")
        if "\t" in v:
            v = v.replace("\t", " ")
        if looks_html(v):
            v = html_to_text(v)
    elif name == "title" and looks_html(v):
        v = html_to_text(v)
    return v


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
                if name in TEXT:
                    text = clean(name, text)
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
                    if name in TEXT:
                        v = clean(name, v)
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
