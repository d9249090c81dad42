#!/usr/bin/env python3
"""Tests of pinsim (the Pinterest API v5 simulator), its contract and openapi_validate.

    python3 tests/pinsim/test_pinsim.py [-v] [--spec PATH]

Two layers:

contract   always: the validator on small schemas and on the project's contract
           (contract.json beside this file): every kind of bad body refused, good ones
           accepted; the simulator started as a subprocess (--ready-file) on the
           contract alone and driven over HTTP, its answers checked for behaviour and
           against the contract's response schemas; start-up, options, shut-down.
full-spec  only when Pinterest's full OpenAPI description is found: the contract agrees
           with it on the good and bad bodies, every enum, pattern, length, item count,
           required list and closed property list of the contract equals the spec's
           (ContractDriftTest), and the simulator, started with the full spec too,
           passes the same tests with its answers also valid against the spec.
           Without the file every test of the layer is skipped, with a reason naming
           the file; the first line of the run says which layers run.

The full spec is found as pinsim finds it ($PINSYNC_SHARED_DIR/pinterest-api/
openapi.json, else ../../../shared/pinterest-api/openapi.json from this folder) unless
--spec or $PINSIM_SPEC names another file.
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import openapi_validate  # noqa: E402  (found through sys.path above)
import pinsim  # noqa: E402
from openapi_validate import (  # noqa: E402
    SchemaValidator, request_body_schema, response_body_schema)

PINSIM = os.path.join(HERE, "pinsim.py")
CONTRACT_PATH = pinsim.DEFAULT_CONTRACT
SPEC_PATH = os.environ.get("PINSIM_SPEC", pinsim.DEFAULT_SPEC)
if "--spec" in sys.argv[:-1]:  # before the layers are decided, below
    _at = sys.argv.index("--spec")
    SPEC_PATH = os.path.abspath(sys.argv[_at + 1])
    del sys.argv[_at:_at + 2]
SPEC_FOUND = os.path.exists(SPEC_PATH)
FULL_SPEC_SKIPPED = ("layer full-spec not run: %s not found; set PINSYNC_SHARED_DIR"
                     % SPEC_PATH)
# The decorator of the full-spec layer's test classes: each test is skipped, with the
# reason, when the spec is not there.
full_spec_layer = unittest.skipUnless(SPEC_FOUND, FULL_SPEC_SKIPPED)
BATCH = "/v5/catalogs/items/batch"
ITEMS = "/v5/catalogs/items"
FORM = "application/x-www-form-urlencoded"

_documents = {}


def load_document(path):
    if path not in _documents:
        with open(path, encoding="utf-8") as f:
            _documents[path] = json.load(f)
    return _documents[path]


def load_contract():
    return load_document(CONTRACT_PATH)


def load_spec():
    return load_document(SPEC_PATH)


def full_attributes(**overrides):
    """The six required attributes, changed by overrides; a value of ... drops one."""
    attributes = {"title": "Denim shirt", "description": "A blue shirt",
                  "link": "https://shop.example/p/1", "image_link": "https://shop.example/1.jpg",
                  "price": "24.99 USD", "availability": "in stock"}
    attributes.update(overrides)
    return {k: v for k, v in attributes.items() if v is not ...}


def batch_body(items, **top):
    body = {"catalog_type": "RETAIL", "catalog_id": "1001", "country": "US",
            "language": "en-US", "items": items}
    body.update(top)
    return body


def create(item_id, **attrs):
    return {"operation": "CREATE", "item_id": item_id, "attributes": full_attributes(**attrs)}


def good_mix():
    return batch_body([
        create("sku-1", gtin="0012345678905", sale_price="19.99 USD", variant_names=["Color"],
               additional_image_link=["https://shop.example/1b.jpg"], adult=False),
        {"operation": "UPSERT", "item_id": "sku-2",
         "attributes": full_attributes(image_link=["https://shop.example/2.jpg"])},
        {"operation": "UPDATE", "item_id": "sku-3", "attributes": {"price": "9.99 USD"},
         "update_mask": ["price", "sale_price"]},
        {"operation": "UPDATE", "item_id": "sku-4", "attributes": {"availability": "preorder"}},
        {"operation": "DELETE", "item_id": "sku-5"},
    ])


def _mutate(fn):
    body = good_mix()
    fn(body)
    return body


# (name, body, text expected in the error) for bodies the spec refuses.
BAD_BODIES = [
    ("missing catalog_type", _mutate(lambda b: b.pop("catalog_type")),
     "$: missing required property 'catalog_type'"),
    ("empty items", _mutate(lambda b: b.update(items=[])),
     "$.items: expected at least 1 items"),
    ("1001 items", batch_body([create("sku-%d" % i) for i in range(1001)]),
     "$.items: expected at most 1000 items, got 1001"),
    ("unknown top-level property", _mutate(lambda b: b.update(dry_run=True)),
     "$.dry_run: unknown property"),
    ("unknown attribute name", _mutate(lambda b: b["items"][0]["attributes"].update(colour="red")),
     "$.items[0].attributes.colour: unknown property"),
    ("price as number", _mutate(lambda b: b["items"][0]["attributes"].update(price=24.99)),
     "$.items[0].attributes.price: expected string, got number"),
    ("bad operation", _mutate(lambda b: b["items"][4].update(operation="REMOVE")),
     "$.items[4].operation: \"REMOVE\" is not one of"),
    ("UPDATE with image_link",
     _mutate(lambda b: b["items"][2]["attributes"].update(image_link="https://x/1.jpg")),
     "$.items[2].attributes.image_link: unknown property"),
    ("country not in enum", _mutate(lambda b: b.update(country="XX")),
     "$.country: \"XX\" is not"),
    ("nested wrong type",
     _mutate(lambda b: b["items"][0]["attributes"].update(variant_names=["Color", 7])),
     "$.items[0].attributes.variant_names[1]: expected string, got integer"),
    ("language in neither enum", _mutate(lambda b: b.update(language="english")),
     "$.language: matches no anyOf alternative"),
    ("catalog_id not digits", _mutate(lambda b: b.update(catalog_id="cat-1")),
     "$.catalog_id: \"cat-1\" does not match pattern"),
    ("item without item_id", _mutate(lambda b: b["items"][4].pop("item_id")),
     "$.items[4]: missing required property 'item_id'"),
    ("update_mask with image_link",
     _mutate(lambda b: b["items"][2].update(update_mask=["image_link"])),
     "$.items[2].update_mask[0]: \"image_link\" is not"),
    ("image_link neither string nor array",
     _mutate(lambda b: b["items"][0]["attributes"].update(image_link={"url": "x"})),
     "$.items[0].attributes.image_link: matches no oneOf alternative"),
    ("not an object", [], "$: expected object, got array"),
    ("UPDATE with additional_image_link",
     _mutate(lambda b: b["items"][3]["attributes"].update(
         additional_image_link=["https://x/2.jpg"])),
     "$.items[3].attributes.additional_image_link: unknown property"),
    ("UPDATE with video_link",
     _mutate(lambda b: b["items"][3]["attributes"].update(video_link="https://x/v.mp4")),
     "$.items[3].attributes.video_link: unknown property"),
    ("missing country", _mutate(lambda b: b.pop("country")),
     "$: missing required property 'country'"),
    ("CREATE without attributes", _mutate(lambda b: b["items"][0].pop("attributes")),
     "$.items[0]: missing required property 'attributes'"),
    ("items not an array", _mutate(lambda b: b.update(items={"sku-1": {}})),
     "$.items: expected array, got object"),
    ("update_mask not an array", _mutate(lambda b: b["items"][2].update(update_mask="price")),
     "$.items[2].update_mask: expected array, got string"),
    ("adult as string", _mutate(lambda b: b["items"][0]["attributes"].update(adult="yes")),
     "$.items[0].attributes.adult: expected boolean, got string"),
    ("custom_number as fraction",
     _mutate(lambda b: b["items"][0]["attributes"].update(custom_number_0=1.5)),
     "$.items[0].attributes.custom_number_0: expected integer, got number"),
    ("custom_label over 511 characters",  # the spec's maxLength keyword
     _mutate(lambda b: b["items"][0]["attributes"].update(custom_label_0="x" * 512)),
     "$.items[0].attributes.custom_label_0: longer than 511 characters"),
    ("image_link array of two",
     _mutate(lambda b: b["items"][1]["attributes"].update(image_link=["https://a", "https://b"])),
     "$.items[1].attributes.image_link: matches no oneOf alternative"),
]

# (name, body, text expected in the error) for bodies the contract refuses from facts the
# spec states in its descriptions rather than as schema keywords ("<= 500 characters",
# "Up to ten additional images", "ranging from 0 to 4,294,967,295"): the full spec, even
# with the attribute objects closed, accepts them.
DESCRIBED_BAD_BODIES = [
    ("title over 500 characters", batch_body([create("a", title="x" * 501)]),
     "$.items[0].attributes.title: longer than 500 characters"),
    ("description over 10000 characters", batch_body([create("a", description="x" * 10001)]),
     "$.items[0].attributes.description: longer than 10000 characters"),
    ("link over 511 characters", batch_body([create("a", link="https://s/" + "x" * 502)]),
     "$.items[0].attributes.link: longer than 511 characters"),
    ("image_link over 2000 characters",
     batch_body([create("a", image_link="https://s/" + "x" * 1991)]),
     "$.items[0].attributes.image_link: matches no oneOf alternative (longer than 2000"),
    ("additional image over 2000 characters",
     batch_body([create("a", additional_image_link=["https://s/" + "x" * 1991])]),
     "$.items[0].attributes.additional_image_link[0]: longer than 2000 characters"),
    ("11 additional images",
     batch_body([create("a", additional_image_link=["https://s/%d.jpg" % i for i in range(11)])]),
     "$.items[0].attributes.additional_image_link: expected at most 10 items, got 11"),
    ("item_group_id over 127 characters", batch_body([create("a", item_group_id="g" * 128)]),
     "$.items[0].attributes.item_group_id: longer than 127 characters"),
    ("UPDATE of a title over 500 characters",
     batch_body([{"operation": "UPDATE", "item_id": "a", "attributes": {"title": "x" * 501}}]),
     "$.items[0].attributes.title: longer than 500 characters"),
    ("custom_number above 2^32-1", batch_body([create("a", custom_number_1=2 ** 32)]),
     "$.items[0].attributes.custom_number_1: must be <= 4294967295"),
    ("custom_number below 0", batch_body([create("a", custom_number_4=-1)]),
     "$.items[0].attributes.custom_number_4: must be >= 0"),
]


def _good_bodies():
    upserts = batch_body([{"operation": "UPSERT", "item_id": "u%d" % i,
                           "attributes": full_attributes()} for i in range(3)], language="EN")
    no_catalog = good_mix()
    del no_catalog["catalog_id"]
    at_limits = batch_body([
        create("a", title="x" * 500, description="x" * 10000, link="https://s/" + "x" * 501,
               image_link=["https://s/" + "x" * 1990], custom_label_0="x" * 511,
               additional_image_link=["https://s/%d.jpg" % i for i in range(10)],
               custom_number_0=0, custom_number_1=2 ** 32 - 1, gtin=12345678905),
        {"operation": "UPDATE", "item_id": "b", "update_mask": None,
         "attributes": {"sale_price": None, "color": None, "title": "x" * 500}}])
    return [
        ("mix", good_mix()), ("upserts, ISO language", upserts),
        ("no catalog_id", no_catalog),
        ("deletes", batch_body([{"operation": "DELETE", "item_id": "d",
                                 "last_updated_time": 1641483432072}])),
        ("values at their limits, nulls", at_limits),
        ("1000 items", batch_body([create("sku-%d" % i) for i in range(1000)])),
    ]


GOOD_BODIES = _good_bodies()
LEGACY_BODY = {"country": "US", "language": "EN", "operation": "DELETE",
               "items": [{"item_id": "x"}]}


def read_back(*item_ids, **top):
    """A POST /v5/catalogs/items body asking for item_ids."""
    body = {"country": "US", "language": "en-US",
            "filters": {"catalog_type": "RETAIL", "catalog_id": "1001",
                        "item_ids": list(item_ids)}}
    body.update(top)
    return body


def _read_back_without(*path):
    body = read_back("a")
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


GOOD_READ_BACKS = [
    ("one id", read_back("a")), ("1000 ids", read_back(*("i%d" % i for i in range(1000)))),
    ("ISO language", read_back("a", language="FR", country="FR")),
    ("no catalog_id", _read_back_without("filters", "catalog_id")),
]
BAD_READ_BACKS = [
    ("no filters", _read_back_without("filters"), "$: missing required property 'filters'"),
    ("no item_ids", _read_back_without("filters", "item_ids"),
     "$.filters: missing required property 'item_ids'"),
    ("no language", _read_back_without("language"), "$: missing required property 'language'"),
    ("no ids", read_back(), "$.filters.item_ids: expected at least 1 items, got 0"),
    ("1001 ids", read_back(*("i%d" % i for i in range(1001))),
     "$.filters.item_ids: expected at most 1000 items, got 1001"),
    ("catalog_id not digits", read_back("a", filters={"catalog_type": "RETAIL",
                                                      "catalog_id": "x1", "item_ids": ["a"]}),
     '$.filters.catalog_id: "x1" does not match pattern'),
    ("unknown top-level property", read_back("a", page_size=10),
     "$.page_size: unknown property"),
    ("country not in enum", read_back("a", country="UK"), '$.country: "UK" is not'),
    ("language in neither enum", read_back("a", language="en_US"),
     "$.language: matches no anyOf alternative"),
    ("id not a string", read_back("a", 7), "$.filters.item_ids[1]: expected string, got integer"),
]

# Token request forms, as parsed from application/x-www-form-urlencoded.
GOOD_FORMS = [
    {"grant_type": "refresh_token", "refresh_token": "r"},
    {"grant_type": "refresh_token", "refresh_token": "r", "scope": "catalogs:read"},
    {"grant_type": "refresh_token", "refresh_token": "r", "continuous_refresh": "true"},
]
BAD_FORMS = [
    ("no grant_type", {"refresh_token": "r"}, "$: missing required property 'grant_type'"),
    ("unknown grant_type", {"grant_type": "password", "refresh_token": "r"},
     '$.grant_type: "password" is not one of'),
    ("no refresh_token", {"grant_type": "refresh_token"},
     "$: missing required property 'refresh_token'"),
]

# Query parameters: (contract path, query, text expected in the reason).
GOOD_QUERIES = [
    ("/catalogs", {}), ("/catalogs", {"page_size": "250", "bookmark": "MjU="}),
    ("/catalogs/feeds", {"catalog_id": "1001", "page_size": "1",
                         "ad_account_id": "123456789012345678", "unknown": "x"}),
    ("/catalogs/items/batch", {"ad_account_id": "1"}),
]
BAD_QUERIES = [
    ("/catalogs", {"page_size": "0"}, "Parameter 'page_size': must be >= 1 (was 0)"),
    ("/catalogs", {"page_size": "251"}, "Parameter 'page_size': must be <= 250 (was 251)"),
    ("/catalogs/feeds", {"page_size": "3e"}, "Parameter 'page_size' was not numeric (was 3e)"),
    ("/catalogs/feeds", {"page_size": ""}, "Parameter 'page_size' was not numeric (was )"),
    ("/catalogs/feeds", {"page_size": "--5"}, "Parameter 'page_size' was not numeric (was --5)"),
    ("/catalogs", {"page_size": "-5"}, "Parameter 'page_size': must be >= 1 (was -5)"),
    ("/catalogs/feeds", {"catalog_id": "cat"},
     "Parameter 'catalog_id': \"cat\" does not match pattern ^\\d+$ (was cat)"),
    ("/catalogs/feeds", {"catalog_id": "\u0661"}, "Parameter 'catalog_id': "),
    ("/catalogs/feeds", {"ad_account_id": "1234567890123456789"},
     "Parameter 'ad_account_id': longer than 18 characters"),
    ("/catalogs/items", {"ad_account_id": "12a"}, "Parameter 'ad_account_id': \"12a\" does not"),
]


def query_method(path):
    return "GET" if path in ("/catalogs", "/catalogs/feeds") else "POST"




# -- the validator on small schemas --------------------------------------------------------

class ValidatorUnitTest(unittest.TestCase):
    DOC = {"components": {"schemas": {
        "Cat": {"type": "object", "required": ["kind", "lives"],
                "properties": {"kind": {"type": "string", "enum": ["cat"]},
                               "lives": {"type": "integer", "minimum": 1, "maximum": 9}}},
        "Dog": {"type": "object", "required": ["kind"],
                "properties": {"kind": {"type": "string", "enum": ["dog"]},
                               "good": {"type": "boolean"}}},
        "Pet": {"discriminator": {"propertyName": "kind",
                                  "mapping": {"cat": "#/components/schemas/Cat",
                                              "dog": "#/components/schemas/Dog"}},
                "oneOf": [{"$ref": "#/components/schemas/Cat"},
                          {"$ref": "#/components/schemas/Dog"}]},
        "Base": {"type": "object", "properties": {"a": {"type": "string"}}},
        "Closed": {"allOf": [{"$ref": "#/components/schemas/Base"},
                             {"type": "object", "properties": {"b": {"type": "string"}}}]},
        "Node": {"type": "object", "properties": {
            "next": {"$ref": "#/components/schemas/Node"}, "v": {"type": "integer"}}},
    }}}

    def setUp(self):
        self.v = SchemaValidator(self.DOC, closed=["Closed"])

    def check(self, instance, schema):
        return self.v.validate(instance, schema)

    def test_nullable(self):
        self.assertEqual(self.check(None, {"type": "string", "nullable": True}), [])
        self.assertEqual(self.check(None, {"type": "string"}), ["$: expected string, got null"])
        self.assertEqual(self.check(None, {}), [])
        self.assertEqual(self.check({"x": None}, {"properties": {"x": {"type": "integer"}}}),
                         ["$.x: expected integer, got null"])

    def test_untyped_property_accepts_anything(self):
        schema = {"type": "object", "properties": {"any": {"description": "no type"}}}
        for value in (1, "s", [1], {"a": 1}, None, True):
            self.assertEqual(self.check({"any": value}, schema), [], value)

    def test_types(self):
        self.assertEqual(self.check(True, {"type": "integer"}),
                         ["$: expected integer, got boolean"])
        self.assertEqual(self.check(1.5, {"type": "integer"}), ["$: expected integer, got number"])
        self.assertEqual(self.check(3, {"type": "number"}), [])
        self.assertEqual(self.check("3", {"type": "number"}), ["$: expected number, got string"])

    def test_one_of_with_discriminator_reports_the_mapped_branch(self):
        pet = {"$ref": "#/components/schemas/Pet"}
        self.assertEqual(self.check({"kind": "cat", "lives": 9}, pet), [])
        self.assertEqual(self.check({"kind": "cat", "lives": 10}, pet), ["$.lives: must be <= 9"])
        self.assertEqual(self.check({"kind": "dog", "good": "yes"}, pet),
                         ["$.good: expected boolean, got string"])
        self.assertEqual(self.check({"kind": "cow"}, pet),
                         ['$.kind: "cow" is not one of "cat", "dog"'])
        self.assertEqual(self.check({"lives": 3}, pet), ["$: missing required property 'kind'"])

    def test_one_of_exactly_one(self):
        schema = {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]}
        self.assertEqual(self.check(-1, schema), [])       # integer only
        self.assertEqual(self.check(0.5, schema), [])      # number only
        self.assertEqual(self.check(2, schema),
                         ["$: matches 2 oneOf alternatives (#0, #1), exactly one allowed"])
        self.assertEqual(self.check("x", schema), [
            "$: matches no oneOf alternative (expected integer, got string; "
            "expected number, got string)"])

    def test_one_of_reports_closest_alternative(self):
        schema = {"oneOf": [
            {"type": "object", "required": ["a"], "additionalProperties": False,
             "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
            {"type": "object", "required": ["z"], "additionalProperties": False,
             "properties": {"z": {"type": "string"}}}]}
        self.assertEqual(self.check({"a": "x", "b": 1}, schema),
                         ["$.b: expected string, got integer"])

    def test_any_of(self):
        schema = {"anyOf": [{"type": "string", "maxLength": 2},
                            {"type": "string", "pattern": "^a"}]}
        self.assertEqual(self.check("abc", schema), [])
        self.assertEqual(self.check("xy", schema), [])
        self.assertEqual(len(self.check("xyz", schema)), 1)

    def test_additional_properties(self):
        closed = {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
        self.assertEqual(self.check({"a": 1}, closed), [])
        self.assertEqual(self.check({"a": 1, "b": 2}, closed),
                         ["$.b: unknown property (additionalProperties is false)"])
        typed = {"type": "object", "additionalProperties": {"type": "integer"}}
        self.assertEqual(self.check({"x": 1, "odd key": "s"}, typed),
                         ['$["odd key"]: expected integer, got string'])

    def test_closed_component_spans_its_all_of(self):
        closed = {"$ref": "#/components/schemas/Closed"}
        self.assertEqual(self.check({"a": "1", "b": "2"}, closed), [])
        self.assertEqual(self.check({"a": "1", "c": "3"}, closed),
                         ["$.c: unknown property (not in Closed)"])
        # Base is open on its own, and inside Closed's allOf it does not refuse "b".
        self.assertEqual(self.check({"c": 1}, {"$ref": "#/components/schemas/Base"}), [])

    def test_keywords(self):
        self.assertEqual(self.check("abc", {"type": "string", "minLength": 4}),
                         ["$: shorter than 4 characters"])
        self.assertEqual(self.check("abcdef", {"type": "string", "maxLength": 5}),
                         ["$: longer than 5 characters"])
        self.assertEqual(self.check("12a", {"type": "string", "pattern": r"^\d+$"}),
                         ['$: "12a" does not match pattern ^\\d+$'])
        self.assertEqual(self.check(0, {"type": "integer", "minimum": 0, "exclusiveMinimum": True}),
                         ["$: must be > 0"])
        self.assertEqual(self.check([1, 1], {"type": "array", "uniqueItems": True}),
                         ["$[1]: duplicate item"])
        self.assertEqual(self.check({}, {"type": "object", "required": ["id"]}),
                         ["$: missing required property 'id'"])
        self.assertEqual(self.check(True, {"enum": [1, "1"]}), ['$: true is not one of 1, "1"'])
        self.assertEqual(self.check(5, {"not": {"type": "integer"}}),
                         ["$: must not match the 'not' schema"])
        self.assertEqual(self.check({"a": 1, "b": "x"}, {"allOf": [
            {"properties": {"a": {"type": "string"}}},
            {"properties": {"b": {"type": "integer"}}}]}),
            ["$.a: expected string, got integer", "$.b: expected integer, got string"])

    def test_recursive_ref(self):
        node = {"$ref": "#/components/schemas/Node"}
        self.assertEqual(self.check({"v": 1, "next": {"v": 2, "next": {"v": 3}}}, node), [])
        self.assertEqual(self.check({"next": {"next": {"v": "x"}}}, node),
                         ["$.next.next.v: expected integer, got string"])

    def test_schema_errors(self):
        with self.assertRaises(openapi_validate.SchemaError):
            self.check(1, {"$ref": "#/components/schemas/Nope"})
        with self.assertRaises(openapi_validate.SchemaError):
            self.check(1, {"type": "int"})

    def test_pattern_digits_are_ascii(self):
        """JSON Schema patterns are ECMA-262 regexes: \\d is [0-9], not every Unicode digit."""
        digits = {"type": "string", "pattern": r"^\d+$"}
        self.assertEqual(self.check("1001", digits), [])
        self.assertEqual(len(self.check("\u0661\u0660", digits)), 1)  # Arabic-Indic digits

    def test_x_closed_components(self):
        doc = {"components": {"schemas": {
            "Open": {"type": "object", "properties": {"a": {}}},
            "Shut": {"x-closed": True, "allOf": [{"$ref": "#/components/schemas/Open"},
                                                 {"properties": {"b": {}}}]}}}}
        v = SchemaValidator(doc)
        self.assertEqual(v.closed, {"Shut"})
        self.assertEqual(v.validate({"a": 1, "b": 2}, {"$ref": "#/components/schemas/Shut"}), [])
        self.assertEqual(v.validate({"c": 1}, {"$ref": "#/components/schemas/Shut"}),
                         ["$.c: unknown property (not in Shut)"])
        self.assertEqual(SchemaValidator(doc, closed=["Open"]).closed, {"Open", "Shut"})

    def test_operation_lookups(self):
        error = {"type": "object", "required": ["code"]}
        doc = {"paths": {"/things/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": {"parameters": [{"$ref": "#/components/parameters/size"},
                                   {"name": "x", "in": "header", "schema": {}}],
                    "responses": {"200": {"content": {"application/json": {"schema": {}}}},
                                  "default": {"content": {"application/json": {
                                      "schema": error}}}}}}},
               "components": {"parameters": {"size": {"name": "size", "in": "query",
                                                      "schema": {"type": "integer"}}}}}
        self.assertEqual(openapi_validate.parameter_schemas(doc, "/things/{id}", "GET"),
                         {"size": ({"type": "integer"}, False)})
        self.assertEqual(openapi_validate.parameter_schemas(doc, "/things/{id}", "GET", "path"),
                         {"id": ({"type": "string"}, True)})
        self.assertEqual(response_body_schema(doc, "/things/{id}", "GET", 200), {})
        self.assertIs(response_body_schema(doc, "/things/{id}", "GET", 404), error)  # default
        with self.assertRaises(openapi_validate.SchemaError):
            request_body_schema(doc, "/things/{id}", "GET")
        with self.assertRaises(openapi_validate.SchemaError):
            response_body_schema(doc, "/nothing", "GET", 200)


# -- layer contract: the project's contract ---------------------------------------------------

def walk(node, path="#"):
    """Every (JSON pointer, dict) in a JSON document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, "%s/%s" % (path, key.replace("~", "~0").replace("/", "~1")))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, "%s/%d" % (path, index))


class ContractValidationTest(unittest.TestCase):
    """The contract on its own: what it refuses, what it accepts, and that it is sound."""

    @classmethod
    def setUpClass(cls):
        cls.contract = load_contract()
        cls.v = SchemaValidator(cls.contract)
        cls.batch = request_body_schema(cls.contract, "/catalogs/items/batch", "POST")
        cls.items = request_body_schema(cls.contract, "/catalogs/items", "POST")
        cls.form = request_body_schema(cls.contract, "/oauth/token", "POST", FORM)
        cls.checks = pinsim.Checks(cls.contract)

    def test_document(self):
        doc = self.contract
        self.assertIsInstance(doc["description"], list)
        self.assertIn("v5.23.0", " ".join(doc["description"]))
        self.assertEqual({(path, method.upper()) for path, item in doc["paths"].items()
                          for method in item},
                         {(path, method) for path, method, _ in pinsim.CHECKED_OPERATIONS})
        for path, node in walk(doc):
            if "$ref" in node:
                with self.subTest(path):
                    openapi_validate._resolve(doc, node["$ref"])  # raises when dangling
        for path, item in doc["paths"].items():
            for method, operation in item.items():
                for status in ("200", "default"):
                    with self.subTest((path, method, status)):
                        self.v.validate(None, response_body_schema(doc, path, method, status))
        self.assertEqual(self.v.closed, set(pinsim.CLOSED_SCHEMAS))

    def test_each_enum_list_is_written_once(self):
        seen = {}
        for path, node in walk(self.contract):
            values = node.get("enum")
            if isinstance(values, list):
                with self.subTest(path):
                    self.assertEqual(len(values), len(set(map(json.dumps, values))), "duplicates")
                    if len(values) > 1:
                        self.assertNotIn(json.dumps(sorted(map(json.dumps, values))), seen)
                        seen[json.dumps(sorted(map(json.dumps, values)))] = path

    def test_update_mask_names_updatable_attributes(self):
        schemas = self.contract["components"]["schemas"]
        self.assertLessEqual(set(schemas["UpdateMaskFieldType"]["enum"]),
                             set(schemas["UpdatableItemAttributes"]["properties"]))

    def test_refuses_bad_batch_bodies(self):
        for name, body, expected in BAD_BODIES + DESCRIBED_BAD_BODIES:
            with self.subTest(name):
                errors = self.v.validate(body, self.batch)
                self.assertTrue(any(expected in e for e in errors), errors)
        hotel = batch_body([{"operation": "DELETE", "item_id": "h"}], catalog_type="HOTEL")
        self.assertEqual(self.v.validate(hotel, self.batch),
                         ['$.catalog_type: "HOTEL" is not one of "RETAIL"'])
        self.assertIn("$: missing required property 'catalog_type'",
                      self.v.validate(LEGACY_BODY, self.batch))

    def test_accepts_good_batch_bodies(self):
        for name, body in GOOD_BODIES:
            with self.subTest(name):
                self.assertEqual(self.v.validate(body, self.batch), [])

    def test_read_backs(self):
        for name, body in GOOD_READ_BACKS:
            with self.subTest(name):
                self.assertEqual(self.v.validate(body, self.items), [])
        for name, body, expected in BAD_READ_BACKS:
            with self.subTest(name):
                errors = self.v.validate(body, self.items)
                self.assertTrue(any(expected in e for e in errors), errors)

    def test_token_forms(self):
        for form in GOOD_FORMS:
            with self.subTest(form):
                self.assertEqual(self.v.validate(form, self.form), [])
        for name, form, expected in BAD_FORMS:
            with self.subTest(name):
                errors = self.v.validate(form, self.form)
                self.assertTrue(any(expected in e for e in errors), errors)

    def test_query_parameters(self):
        for path, query in GOOD_QUERIES:
            with self.subTest(query):
                self.assertEqual(self.checks.query(path, query_method(path), query), [])
        for path, query, expected in BAD_QUERIES:
            with self.subTest(query):
                reasons = self.checks.query(path, query_method(path), query)
                self.assertEqual(len(reasons), 1, reasons)
                self.assertIn(expected, reasons[0])

    def test_thousand_items_is_fast(self):
        items = [create("sku-%d" % i, brand="Acme", color="blue", size="M", gtin="123",
                        sale_price="1.00 USD", variant_names=["Size"],
                        additional_image_link=["https://shop.example/a.jpg"]) for i in range(1000)]
        started = time.perf_counter()
        errors = SchemaValidator(self.contract).validate(batch_body(items), self.batch)  # cold
        self.assertEqual(errors, [])
        self.assertLess(time.perf_counter() - started, 0.5)


# -- layer full-spec: the contract against Pinterest's description ----------------------------

@full_spec_layer
class SpecValidationTest(unittest.TestCase):
    """Pinterest's full description (attribute objects closed as pinsim closes them)
    refuses and accepts what the contract does, for the same reasons."""

    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec()
        cls.contract = load_contract()
        cls.v = SchemaValidator(cls.spec, closed=pinsim.CLOSED_SCHEMAS)
        cls.cv = SchemaValidator(cls.contract)
        cls.schema = request_body_schema(cls.spec, "/catalogs/items/batch", "POST")
        cls.contract_schema = request_body_schema(cls.contract, "/catalogs/items/batch", "POST")

    def both(self, body, path="/catalogs/items/batch", media_type="application/json",
             spec_schema=None):
        """(the contract's reasons, the spec's reasons) for a request body."""
        return (self.cv.validate(body, request_body_schema(self.contract, path, "POST",
                                                           media_type)),
                self.v.validate(body, spec_schema or request_body_schema(
                    self.spec, path, "POST", media_type)))

    def test_rejects_bad_bodies(self):
        for name, body, expected in BAD_BODIES:
            with self.subTest(name):
                errors = self.v.validate(body, self.schema)
                self.assertTrue(any(expected in e for e in errors), errors)

    def test_accepts_good_bodies(self):
        for name, body in GOOD_BODIES:
            with self.subTest(name):
                self.assertEqual(self.v.validate(body, self.schema), [])

    def test_contract_agrees_on_batch_bodies(self):
        for name, body in GOOD_BODIES:
            with self.subTest(name):
                self.assertEqual(self.both(body), ([], []))
        for name, body, _ in BAD_BODIES:
            with self.subTest(name):
                contract, spec = self.both(body)
                self.assertTrue(contract)
                self.assertEqual(contract, spec)

    def test_described_facts_are_the_contract_s_own(self):
        """The spec states these limits in words only: it accepts the bodies, the
        contract refuses them."""
        for name, body, expected in DESCRIBED_BAD_BODIES:
            with self.subTest(name):
                contract, spec = self.both(body)
                self.assertEqual(spec, [])
                self.assertTrue(any(expected in e for e in contract), contract)

    def test_legacy_form(self):
        """The spec takes the legacy single-operation form; the contract does not hold it
        (pinsim refuses it: pinsync sends the per-item form)."""
        contract, spec = self.both(LEGACY_BODY)
        self.assertEqual(spec, [])
        self.assertTrue(contract)

    def test_contract_agrees_on_read_backs(self):
        for name, body in GOOD_READ_BACKS:
            with self.subTest(name):
                self.assertEqual(self.both(body, "/catalogs/items"), ([], []))
        for name, body, _ in BAD_READ_BACKS:
            with self.subTest(name):
                contract, spec = self.both(body, "/catalogs/items")
                self.assertTrue(contract)
                self.assertEqual(contract, spec)

    def test_contract_agrees_on_token_forms(self):
        """Against the spec's refresh form: its OauthAccessTokenRequest names that form
        through a discriminator without oneOf, which openapi_validate does not follow,
        so the request body schema itself checks grant_type only."""
        refresh = {"$ref": "#/components/schemas/OauthAccessTokenRequestRefresh"}
        for form in GOOD_FORMS:
            with self.subTest(form):
                self.assertEqual(self.both(form, "/oauth/token", FORM, refresh), ([], []))
        for name, form, expected in BAD_FORMS:
            with self.subTest(name):
                contract, spec = self.both(form, "/oauth/token", FORM, refresh)
                self.assertTrue(any(expected in e for e in contract), contract)
                self.assertTrue(any(expected in e for e in spec), spec)

    def test_contract_agrees_on_query_parameters(self):
        checks = pinsim.Checks(self.contract, self.spec)
        for path, query in GOOD_QUERIES:
            with self.subTest(query):
                self.assertEqual(checks.query_layers(path, query_method(path), query), [[], []])
        for path, query, _ in BAD_QUERIES:
            with self.subTest(query):
                contract, spec = checks.query_layers(path, query_method(path), query)
                self.assertTrue(contract)
                self.assertEqual(contract, spec)

    def test_spec_leaves_attributes_open(self):
        """Documents why pinsim closes them: the spec itself accepts unknown attributes."""
        literal = SchemaValidator(self.spec)
        body = _mutate(lambda b: b["items"][2]["attributes"].update(image_link="x", colour="r"))
        self.assertEqual(literal.validate(body, self.schema), [])
        self.assertEqual(len(self.v.validate(body, self.schema)), 2)

    def test_thousand_items_is_fast(self):
        items = [create("sku-%d" % i, brand="Acme", color="blue", size="M", gtin="123",
                        sale_price="1.00 USD", variant_names=["Size"],
                        additional_image_link=["https://shop.example/a.jpg"]) for i in range(1000)]
        body = batch_body(items)
        started = time.perf_counter()
        validator = SchemaValidator(self.spec, closed=pinsim.CLOSED_SCHEMAS)  # cold caches
        errors = validator.validate(body, self.schema)
        elapsed = time.perf_counter() - started
        self.assertEqual(errors, [])
        self.assertLess(elapsed, 0.5)


class Drift:
    """Compares the contract with Pinterest's description, schema by schema.

    Each contract component is compared with the spec's schema of the same name (or the
    one its x-spec names), each parameter likewise, and each operation's request body and
    200 answer with the spec's.  Walking both side by side, it records a problem
    (kind, where, text) wherever a fact differs:

    enum      a contract enum whose values are not the spec's, or (in a request) an
              enum of the spec the contract lacks
    pattern   likewise for patterns
    count     minItems/maxItems; range: minimum/maximum; length: minLength/maxLength
              (a maxLength may instead equal the "<= N characters" of the property's
              description in the spec, and must when the spec states one, in a request)
    closed    a contract object closed (additionalProperties false or x-closed) whose
              properties are not exactly the spec's, or the spec's
              additionalProperties false not held
    property  a contract property the spec does not have; in a request, a spec property
              the contract lacks (the contract would not check it)
    required  required lists that differ
    type      types (and, in a request, nullable) that differ
    source    an x-source quote not found in the spec's descriptions
    structure combinators or $ref that do not correspond

    A fact the spec does not state as a keyword needs an x-source quote from it.  A node
    marked x-deviation is not compared; its place is listed in .deviations.  Requests
    ("strict") must hold every fact the spec states; answers (pinsim's, not pinsync's)
    need only state facts that are the spec's."""

    LIMITS = {"minItems": "count", "maxItems": "count", "minimum": "range",
              "maximum": "range", "minLength": "length", "maxLength": "length"}

    def __init__(self, contract, spec):
        self.contract, self.spec = contract, spec
        self.problems, self.deviations, self.done = [], [], set()
        self.texts = [" ".join(node["description"].split()) for _, node in walk(spec)
                      if isinstance(node.get("description"), str)]
        self.closed = SchemaValidator(contract).closed

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def resolve(doc, node):
        """(component name or None, the node with every $ref followed)."""
        name = None
        while "$ref" in node:
            ref = node["$ref"]
            if ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
            node = openapi_validate._resolve(doc, ref)
        return name, node

    def find(self, node, name, depth=0):
        """The spec schema called name among the alternatives under node (oneOf, anyOf,
        a discriminator's mapping), or None: the contract narrows to one of them."""
        found, node = self.resolve(self.spec, node)
        if found == name:
            return node
        if depth > 4:
            return None
        alternatives = list(node.get("oneOf", ())) + list(node.get("anyOf", ()))
        alternatives += [{"$ref": ref} for ref in
                         node.get("discriminator", {}).get("mapping", {}).values()]
        for alternative in alternatives:
            hit = self.find(alternative, name, depth + 1)
            if hit is not None:
                return hit
        return None

    def flat(self, doc, node):
        """(properties, required) of an object schema, through allOf."""
        _, node = self.resolve(doc, node)
        properties, required = {}, set(node.get("required", ()))
        for member in node.get("allOf", ()):
            more, needed = self.flat(doc, member)
            for key, value in more.items():
                properties.setdefault(key, value)
            required |= needed
        for key, value in node.get("properties", {}).items():
            properties.setdefault(key, value)
        return properties, required

    @staticmethod
    def described_length(node):
        match = re.search(r"<=\s*([\d,]+)\s*characters", node.get("description", ""))
        return int(match.group(1).replace(",", "")) if match else None

    def sourced(self, node, where):
        """Whether node carries an x-source quote, checking that the spec says it."""
        quote = node.get("x-source")
        if quote is None:
            return False
        if not any(" ".join(quote.split()) in text for text in self.texts):
            self.problem("source", where, "x-source %r is not in the spec" % quote)
        return True

    def problem(self, kind, where, text):
        self.problems.append((kind, where, text))

    # -- the walk ------------------------------------------------------------------------

    def run(self):
        for name, schema in self.contract["components"]["schemas"].items():
            target = schema.get("x-spec")
            if target is None and name in self.spec["components"]["schemas"]:
                target = "#/components/schemas/" + name
            if target is not None:
                self.compare(schema, {"$ref": target}, name, strict=self.in_request(name))
        for name, parameter in self.contract["components"]["parameters"].items():
            theirs = self.spec["components"]["parameters"].get(name)
            if theirs is None:
                self.problem("structure", name, "no such parameter in the spec")
                continue
            for key in ("name", "in", "required"):
                if parameter.get(key) != theirs.get(key):
                    self.problem("structure", name, "%s differs" % key)
            self.compare(parameter["schema"], theirs["schema"], "parameter " + name, True)
        for path, item in self.contract["paths"].items():
            for method, operation in item.items():
                self.operation(path, method, operation)
        return self

    def in_request(self, name):
        ref = "#/components/schemas/" + name
        for path, item in self.contract["paths"].items():
            for method, operation in item.items():
                for media in operation.get("requestBody", {}).get("content", {}).values():
                    if self.reaches(media["schema"], ref, set()):
                        return True
        return False

    def reaches(self, node, ref, seen):
        for _, sub in walk(node):
            target = sub.get("$ref")
            if target == ref:
                return True
            if target and target not in seen:
                seen.add(target)
                if self.reaches(openapi_validate._resolve(self.contract, target), ref, seen):
                    return True
        return False

    def operation(self, path, method, operation):
        where = "%s %s" % (method.upper(), path)
        theirs = self.spec["paths"].get(path, {}).get(method)
        if theirs is None:
            self.problem("structure", where, "no such operation in the spec")
            return
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            self.compare(media["schema"], request_body_schema(self.spec, path, method,
                                                              media_type), where, True)
        self.compare(response_body_schema(self.contract, path, method, 200),
                     response_body_schema(self.spec, path, method, 200), where + " 200", False)
        ours = openapi_validate.parameter_schemas(self.contract, path, method)
        for name in openapi_validate.parameter_schemas(self.spec, path, method):
            if name not in ours:
                self.problem("property", where, "query parameter %s not held" % name)

    def compare(self, mine, theirs, where, strict, described=None):
        key = (id(mine), id(theirs), strict)
        if key in self.done:
            return
        self.done.add(key)
        if "x-deviation" in mine:
            self.deviations.append(where)
            return
        my_name, c = self.resolve(self.contract, mine)
        their_name, s = self.resolve(self.spec, theirs)
        if my_name and my_name != their_name:
            narrowed = self.find(theirs, my_name)
            if narrowed is not None:
                s = narrowed
        if "x-deviation" in c:
            self.deviations.append(where)
            return
        self.keywords(c, s, where, strict, described)
        self.objects(c, s, where, strict)
        if "items" in c or "items" in s:
            if "items" in c and "items" in s:
                self.compare(c["items"], s["items"], where + "[]", strict, described)
            elif strict or "items" in c:
                self.problem("structure", where, "items on one side only")
        self.alternatives(c, s, where, strict, described)

    def keywords(self, c, s, where, strict, described):
        if "type" in s and c.get("type", s["type"]) != s["type"]:
            self.problem("type", where, "%s, spec %s" % (c.get("type"), s["type"]))
        if strict and "type" in c and bool(c.get("nullable")) != bool(s.get("nullable")):
            self.problem("type", where, "nullable differs")
        sourced = self.sourced(c, where)
        for keyword, kind in [("enum", "enum"), ("pattern", "pattern")] + list(self.LIMITS.items()):
            mine, theirs = c.get(keyword), s.get(keyword)
            if keyword == "enum" and mine is not None and theirs is not None:
                if len(mine) != len(theirs) or set(map(json.dumps, mine)) != set(
                        map(json.dumps, theirs)):
                    self.problem(kind, where, "enum differs: %s" % sorted(
                        set(map(json.dumps, mine)) ^ set(map(json.dumps, theirs))))
            elif theirs is not None and mine != theirs and (strict or mine is not None):
                self.problem(kind, where, "%s %r, spec %r" % (keyword, mine, theirs))
            elif theirs is None and mine is not None and not sourced and not (
                    keyword == "maxLength" and mine == described):
                self.problem(kind, where, "%s %r is not in the spec" % (keyword, mine))
        if strict and described and c.get("type") == "string" \
                and c.get("maxLength", s.get("maxLength")) != described:
            self.problem("length", where, "the spec says <= %d characters, the contract %s"
                         % (described, c.get("maxLength")))

    def objects(self, c, s, where, strict):
        mine, my_required = self.flat(self.contract, c)
        theirs, their_required = self.flat(self.spec, s)
        if my_required != their_required:
            self.problem("required", where, "%s, spec %s"
                         % (sorted(my_required), sorted(their_required)))
        closed = c.get("additionalProperties") is False or c.get("x-closed") is True
        if s.get("additionalProperties") is False and c.get("additionalProperties") is not False:
            self.problem("closed", where, "the spec's additionalProperties false is not held")
        if closed and set(mine) != set(theirs):
            self.problem("closed", where, "closed over other properties: %s"
                         % sorted(set(mine) ^ set(theirs)))
        for name, node in mine.items():
            if name in theirs:
                _, theirs_node = self.resolve(self.spec, theirs[name])
                self.compare(node, theirs[name], "%s.%s" % (where, name), strict,
                             self.described_length(theirs_node))
            elif not self.sourced(self.resolve(self.contract, node)[1], where + "." + name):
                self.problem("property", where, "%s is not in the spec" % name)
        if strict and not closed:
            for name in set(theirs) - set(mine):
                self.problem("property", where, "the spec's %s is not held" % name)

    def alternatives(self, c, s, where, strict, described):
        mine = c.get("oneOf") or c.get("anyOf")
        theirs = s.get("oneOf") or s.get("anyOf")
        if not mine:
            if theirs and strict:
                self.problem("structure", where, "the spec's alternatives are not held")
            return
        if not theirs:
            self.problem("structure", where, "alternatives the spec does not have")
            return
        if strict and len(mine) != len(theirs):
            self.problem("structure", where, "%d alternatives, spec %d"
                         % (len(mine), len(theirs)))
        for index, alternative in enumerate(mine):
            name = self.resolve(self.contract, alternative)[0] if "$ref" in alternative else None
            if name:
                found = self.find(s, name)
                if found is None:
                    self.problem("structure", where, "%s is not among the spec's" % name)
                else:
                    self.compare(alternative, found, "%s|%s" % (where, name), strict, described)
            elif len(mine) == len(theirs):
                self.compare(alternative, theirs[index], "%s|%d" % (where, index), strict,
                             described)
            else:
                self.problem("structure", where, "alternative #%d has no counterpart" % index)
        if "discriminator" in c:
            mapping = s.get("discriminator", {}).get("mapping", {})
            for value, ref in c["discriminator"]["mapping"].items():
                if mapping.get(value, "").rsplit("/", 1)[-1] != ref.rsplit("/", 1)[-1]:
                    self.problem("structure", where, "discriminator %s differs" % value)


@full_spec_layer
class ContractDriftTest(unittest.TestCase):
    """The contract cannot drift from Pinterest's description unnoticed: every fact it
    holds is the spec's (see Drift), one test per kind of fact."""

    # Where the contract departs from the spec on purpose (x-deviation), and why.
    KNOWN_DEVIATIONS = [
        # The spec's pattern ^[a-zA-Z0-9]+$ refuses its own batch ids ('-').
        "parameter path_catalogs_items_batch_id",
    ]

    @classmethod
    def setUpClass(cls):
        cls.drift = Drift(load_contract(), load_spec()).run()

    def of_kind(self, *kinds):
        return [p for p in self.drift.problems if p[0] in kinds]

    def test_enums_are_the_spec_s(self):
        self.assertEqual(self.of_kind("enum"), [])

    def test_patterns_counts_lengths_and_ranges_are_the_spec_s(self):
        self.assertEqual(self.of_kind("pattern", "count", "length", "range", "source"), [])

    def test_closed_property_lists_are_the_spec_s(self):
        self.assertEqual(self.of_kind("closed", "property"), [])

    def test_required_lists_and_types_are_the_spec_s(self):
        self.assertEqual(self.of_kind("required", "type", "structure"), [])

    def test_deviations_are_the_known_ones(self):
        self.assertEqual(self.drift.deviations, self.KNOWN_DEVIATIONS)

    def test_the_comparison_sees_a_drift(self):
        """Drift itself: a contract changed in each kind of fact is caught."""
        contract = json.loads(json.dumps(load_contract()))
        schemas = contract["components"]["schemas"]
        schemas["Country"]["enum"].append("XK")
        schemas["CatalogsRetailBatchRequest"]["properties"]["items"]["maxItems"] = 999
        schemas["CatalogsRetailBatchRequest"]["properties"]["catalog_id"]["pattern"] = "^.+$"
        del schemas["UpdatableItemAttributes"]["properties"]["brand"]
        schemas["UpdatableItemAttributes"]["properties"]["title"]["maxLength"] = 501
        schemas["UpdateMaskFieldType"]["enum"].remove("price")
        schemas["CatalogsItemsRequest"]["required"].remove("filters")
        schemas["CustomNumber"]["x-source"] = "ranging from 1 to 10"
        schemas["CatalogsItemsRequest"]["properties"]["language"]["anyOf"].pop()
        schemas["UpdatableItemAttributes"]["properties"]["price"]["type"] = "number"
        kinds = {kind for kind, _, _ in Drift(contract, load_spec()).run().problems}
        self.assertEqual(kinds, {"enum", "count", "pattern", "closed", "length", "required",
                                 "source", "structure", "type"})


# -- the simulator over HTTP -----------------------------------------------------------------

class Sim:
    """A pinsim subprocess on a free port."""

    def __init__(self, *args, spec=SPEC_PATH, env=None):
        """args: more options; spec: the --spec given (None: none, pinsim's default);
        env: the environment (default: this one's)."""
        self.dir = tempfile.TemporaryDirectory(prefix="pinsim-test-")
        self.ready = os.path.join(self.dir.name, "port")
        self.log = os.path.join(self.dir.name, "log")
        self.proc = subprocess.Popen(
            [sys.executable, PINSIM, "--port", "0", "--ready-file", self.ready,
             *(("--spec", spec) if spec else ()), "--log-file", self.log, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("pinsim did not start: %r" % (self.proc.communicate(),))
            time.sleep(0.02)
        with open(self.ready) as f:
            self.ready_text = f.read()
        self.port = int(self.ready_text)

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        """Stop it; return (exit status, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.dir.cleanup()
        return self.proc.returncode, out, err


class Client:
    """A keep-alive HTTP client for one simulator."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method, path, body=None, headers=None, token="sim-access-0", raw=False):
        headers = dict(headers or {})
        if token is not None:
            headers.setdefault("Authorization", "Bearer " + token)
        if body is not None and not raw:
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        answer = json.loads(data) if data else None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, answer

    def call(self, method, path, body=None, expect=200, **kw):
        status, _, answer = self.request(method, path, body, **kw)
        if status != expect:
            raise AssertionError("%s %s: %d %r (wanted %d)"
                                 % (method, path, status, answer, expect))
        return answer

    def control(self, method, path, body=None, expect=200):
        return self.call(method, path, body, expect=expect, token=None)

    def refresh(self, refresh_token, client="pinsim-app:pinsim-secret", extra=""):
        basic = base64.b64encode(client.encode()).decode()
        return self.request("POST", "/v5/oauth/token",
                            "grant_type=refresh_token&refresh_token=%s%s" % (refresh_token, extra),
                            headers={"Authorization": "Basic " + basic,
                                     "Content-Type": "application/x-www-form-urlencoded"},
                            token=None, raw=True)

    def post_batch(self, items, **top):
        return self.call("POST", BATCH, batch_body(items, **top))

    def poll(self, batch_id, expect=200):
        return self.call("GET", "%s/%s" % (BATCH, batch_id), expect=expect)

    def run_batch(self, items, **top):
        """Post a batch and poll it to its end; return the final answer."""
        batch_id = self.post_batch(items, **top)["batch_id"]
        for _ in range(20):
            answer = self.poll(batch_id)
            if answer["status"] != "PROCESSING":
                return answer
        raise AssertionError("batch never completed")

    def catalog(self, catalog_id="1001"):
        return self.control("GET", "/_sim/catalog?catalog_id=" + catalog_id)["items"]

    def config(self, **knobs):
        return self.control("POST", "/_sim/config", knobs)


# A full spec path that does not exist: pinsim then runs on the contract alone.
MISSING_SPEC = os.path.join(HERE, "no-such-folder", "pinterest-api", "openapi.json")


class SimulatorCases:
    """The simulator's behaviour over HTTP.  The two classes below run these tests in
    each layer: pinsim on the contract alone, then with the full spec too; every answer
    is checked against the response schemas of each document pinsim checks with."""

    SPEC = MISSING_SPEC  # what pinsim gets as --spec
    LAYERS = ["contract"]

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--spec", cls.SPEC)
        cls.documents = [SchemaValidator(load_contract())]
        if "full-spec" in cls.LAYERS:
            cls.documents.append(SchemaValidator(load_spec()))

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.c = Client(self.sim.port)
        self.c.control("POST", "/_sim/reset")

    def tearDown(self):
        self.c.conn.close()

    def assertConforms(self, answer, path, method, status=200):
        for v in self.documents:
            schema = response_body_schema(v.document, path, method, status)
            self.assertEqual(v.validate(answer, schema), [], answer)

    def test_layers_reported(self):
        checks = self.c.control("GET", "/_sim/checks")
        self.assertEqual(checks["layers"], self.LAYERS)
        self.assertEqual(checks["contract"], CONTRACT_PATH)
        self.assertEqual(checks["spec"], self.SPEC if "full-spec" in self.LAYERS else None)

    def assertError(self, result, status, code):
        got_status, _, answer = result
        self.assertEqual((got_status, answer["code"]), (status, code), answer)
        self.assertIsInstance(answer["message"], str)
        self.assertConforms(answer, "/catalogs/items/batch", "POST", "default")  # Error shape

    # validation over HTTP

    def test_bad_bodies_are_refused_with_code_1(self):
        for name, body, expected in BAD_BODIES:
            with self.subTest(name):
                status, _, answer = self.c.request("POST", BATCH, body)
                self.assertEqual((status, answer["code"]), (400, 1), answer)
                self.assertIn(expected, answer["message"])
        self.assertEqual(self.c.control("GET", "/_sim/batches"), [])

    def test_body_that_is_not_json(self):
        status, _, answer = self.c.request("POST", BATCH, "{not json", raw=True,
                                           headers={"Content-Type": "application/json"})
        self.assertEqual((status, answer["code"]), (400, 1))

    def test_described_limits_are_refused_with_code_1(self):
        """Limits the spec states in words: refused in either layer (the contract)."""
        for name, body, expected in DESCRIBED_BAD_BODIES:
            with self.subTest(name):
                status, _, answer = self.c.request("POST", BATCH, body)
                self.assertEqual((status, answer["code"]), (400, 1), answer)
                self.assertIn(expected, answer["message"])
        self.assertEqual(self.c.control("GET", "/_sim/batches"), [])

    def test_bad_read_backs_and_queries_are_refused_with_code_1(self):
        for name, body, expected in BAD_READ_BACKS:
            with self.subTest(name):
                status, _, answer = self.c.request("POST", ITEMS, body)
                self.assertEqual((status, answer["code"]), (400, 1), answer)
                self.assertIn(expected, answer["message"])
        for path, query, expected in BAD_QUERIES:
            with self.subTest(query):
                target = "/v5" + path + "?" + urllib.parse.urlencode(query)
                status, _, answer = self.c.request(query_method(path), target)
                self.assertEqual((status, answer["code"]), (400, 1), answer)
                self.assertIn(expected, answer["message"])
        self.assertEqual(self.c.control("GET", "/_sim/batches"), [])

    def test_bad_token_forms_are_refused_with_code_1(self):
        basic = "Basic " + base64.b64encode(b"pinsim-app:pinsim-secret").decode()
        for name, form, expected in BAD_FORMS:
            with self.subTest(name):
                status, _, answer = self.c.request(
                    "POST", "/v5/oauth/token", urllib.parse.urlencode(form), raw=True,
                    headers={"Authorization": basic, "Content-Type": FORM}, token=None)
                self.assertEqual((status, answer["code"]), (400, 1), answer)
                self.assertIn(expected, answer["message"])
        self.assertEqual(self.c.control("GET", "/_sim/tokens")["refresh_token"], "sim-refresh-0")

    def test_legacy_single_operation_form_is_refused(self):
        status, _, answer = self.c.request("POST", BATCH, LEGACY_BODY)
        self.assertEqual((status, answer["code"]), (400, 1))
        self.assertIn("per-item", answer["message"])

    # the batch life cycle

    def test_batch_processing_then_completed(self):
        self.c.config(processing_polls=2)
        posted = self.c.call("POST", BATCH, good_mix())
        self.assertConforms(posted, "/catalogs/items/batch", "POST")
        self.assertEqual((posted["status"], posted["items"], posted["completed_time"]),
                         ("PROCESSING", [], None))
        batch_id = posted["batch_id"]
        for _ in range(2):
            answer = self.c.poll(batch_id)
            self.assertConforms(answer, "/catalogs/items/batch/{batch_id}", "GET")
            self.assertEqual(answer["status"], "PROCESSING")
            self.assertEqual([i["status"] for i in answer["items"]], ["PROCESSING"] * 5)
            self.assertEqual(self.c.catalog(), {})  # not applied before completion
        done = self.c.poll(batch_id)
        self.assertConforms(done, "/catalogs/items/batch/{batch_id}", "GET")
        self.assertEqual(done["status"], "COMPLETED")
        self.assertEqual(done["batch_id"], batch_id)
        self.assertRegex(done["completed_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
        results = {i["item_id"]: i for i in done["items"]}
        self.assertEqual([i["item_id"] for i in done["items"]],
                         ["sku-1", "sku-2", "sku-3", "sku-4", "sku-5"])
        self.assertEqual(results["sku-1"]["status"], "SUCCESS")
        self.assertEqual(results["sku-2"]["status"], "SUCCESS")
        self.assertEqual(results["sku-3"]["status"], "FAILURE")  # UPDATE of an absent item
        self.assertEqual(results["sku-3"]["errors"][0]["attribute"], "item_id")
        self.assertEqual(results["sku-5"]["status"], "SUCCESS")  # DELETE of an absent item
        self.assertEqual(results["sku-5"]["warnings"][0]["code"], pinsim.ITEM_DELETE_ABSENT)
        catalog = self.c.catalog()
        self.assertEqual(sorted(catalog), ["sku-1", "sku-2"])
        self.assertEqual(catalog["sku-1"]["attributes"]["sale_price"], "19.99 USD")
        self.assertEqual((catalog["sku-1"]["country"], catalog["sku-1"]["language"]),
                         ("US", "en-US"))
        # Polling again repeats the answer and does not apply the batch twice.
        self.c.config(fail_items={"sku-1": {"attribute": "x", "code": 1, "message": "m"}})
        self.assertEqual(self.c.poll(batch_id), done)

    def test_processing_polls_zero_completes_on_first_poll(self):
        self.c.config(processing_polls=0)
        batch_id = self.c.post_batch([create("a")])["batch_id"]
        self.assertEqual(self.c.poll(batch_id)["status"], "COMPLETED")

    def test_processing_polls_is_fixed_when_posted(self):
        batch_id = self.c.post_batch([create("a")])["batch_id"]  # default: 1 poll
        self.c.config(processing_polls=5)
        self.assertEqual(self.c.poll(batch_id)["status"], "PROCESSING")
        self.assertEqual(self.c.poll(batch_id)["status"], "COMPLETED")

    def test_required_attributes(self):
        done = self.c.run_batch([
            create("no-title-price", title=..., price=""),
            {"operation": "UPSERT", "item_id": "no-image",
             "attributes": full_attributes(image_link=..., availability="  ")},
            create("ok")])
        records = {r["item_id"]: r for r in done["items"]}
        errors = records["no-title-price"]["errors"]
        self.assertEqual(records["no-title-price"]["status"], "FAILURE")
        self.assertEqual(sorted(e["attribute"] for e in errors), ["price", "title"])
        self.assertTrue(all(e["code"] == pinsim.ITEM_MISSING_ATTRIBUTE for e in errors))
        self.assertEqual(sorted(e["attribute"] for e in records["no-image"]["errors"]),
                         ["availability", "image_link"])
        self.assertEqual(records["ok"]["status"], "SUCCESS")
        self.assertEqual(list(self.c.catalog()), ["ok"])

    def test_create_of_existing_item_fails(self):
        self.c.run_batch([create("a")])
        done = self.c.run_batch([create("a", title="Other")])
        self.assertEqual(done["items"][0]["status"], "FAILURE")
        self.assertEqual(done["items"][0]["errors"][0]["code"], pinsim.ITEM_ALREADY_EXISTS)
        self.assertEqual(self.c.catalog()["a"]["attributes"]["title"], "Denim shirt")

    def test_upsert_replaces_all_attributes(self):
        self.c.run_batch([create("a", sale_price="1.00 USD", brand="Acme")])
        done = self.c.run_batch([{"operation": "UPSERT", "item_id": "a",
                                  "attributes": full_attributes(title="New")}])
        self.assertEqual(done["items"][0]["status"], "SUCCESS")
        self.assertEqual(self.c.catalog()["a"]["attributes"], full_attributes(title="New"))

    def test_update_with_mask_clears_sale_price(self):
        self.c.run_batch([create("a", sale_price="19.99 USD", brand="Acme", color="red")])
        done = self.c.run_batch([
            {"operation": "UPDATE", "item_id": "a", "attributes": {"price": "21.00 USD"},
             "update_mask": ["price", "sale_price"]},
            {"operation": "UPDATE", "item_id": "a",
             "attributes": {"brand": "Acme2", "color": None}}])
        self.assertEqual([r["status"] for r in done["items"]], ["SUCCESS", "SUCCESS"])
        attributes = self.c.catalog()["a"]["attributes"]
        self.assertEqual(attributes["price"], "21.00 USD")
        self.assertNotIn("sale_price", attributes)  # masked, absent from the body: removed
        self.assertNotIn("color", attributes)       # null: removed
        self.assertEqual(attributes["brand"], "Acme2")  # no mask: only the body is set
        self.assertEqual(attributes["title"], "Denim shirt")

    def test_forced_failures(self):
        self.c.run_batch([create("b")])
        event = {"attribute": "price", "code": 120, "message": "Price is invalid."}
        self.c.config(fail_items={"a": event, "b": event})
        done = self.c.run_batch([create("a"), {"operation": "DELETE", "item_id": "b"}, create("c")])
        self.assertEqual([(r["status"], r["errors"]) for r in done["items"]],
                         [("FAILURE", [event]), ("FAILURE", [event]), ("SUCCESS", [])])
        self.assertEqual(sorted(self.c.catalog()), ["b", "c"])  # a not created, b not deleted
        self.c.config(fail_items={})
        self.assertEqual(self.c.run_batch([create("a")])["items"][0]["status"], "SUCCESS")

    def test_delete(self):
        self.c.run_batch([create("a")])
        done = self.c.run_batch([{"operation": "DELETE", "item_id": "a"}])
        self.assertEqual((done["items"][0]["status"], done["items"][0]["warnings"]),
                         ("SUCCESS", []))
        self.assertEqual(self.c.catalog(), {})
        self.c.config(delete_missing="failure")
        done = self.c.run_batch([{"operation": "DELETE", "item_id": "a"}])
        self.assertEqual(done["items"][0]["status"], "FAILURE")
        self.assertEqual(done["items"][0]["errors"][0]["code"], pinsim.ITEM_DELETE_ABSENT)

    def test_unknown_batch_and_catalog(self):
        self.assertError(self.c.request("GET", BATCH + "/123-abc"), 404, 4331)
        self.assertError(self.c.request("POST", BATCH, batch_body([create("a")], catalog_id="999")),
                         404, 678)

    def test_second_catalog_and_default_catalog(self):
        self.c.control("POST", "/_sim/catalogs", {"id": "2002", "name": "Second"})
        self.c.control("POST", "/_sim/catalogs", {"id": "2002"}, expect=409)
        self.c.run_batch([create("x")], catalog_id="2002")
        self.assertEqual(list(self.c.catalog("2002")), ["x"])
        body = batch_body([create("y")])
        del body["catalog_id"]  # the oldest RETAIL catalog
        self.c.call("POST", BATCH, body)
        self.c.poll(self.c.control("GET", "/_sim/batches")[-1]["batch_id"])
        self.c.poll(self.c.control("GET", "/_sim/batches")[-1]["batch_id"])
        self.assertEqual(list(self.c.catalog("1001")), ["y"])
        self.c.control("POST", "/_sim/catalog/reset?catalog_id=2002")
        self.assertEqual((self.c.catalog("2002"), list(self.c.catalog("1001"))), ({}, ["y"]))
        self.c.control("POST", "/_sim/catalog/reset")
        self.assertEqual(self.c.catalog("1001"), {})

    def test_list_catalogs_paginates(self):
        for n in range(3):
            self.c.control("POST", "/_sim/catalogs", {"id": "300%d" % n, "name": "C%d" % n})
        first = self.c.call("GET", "/v5/catalogs?page_size=2")
        self.assertConforms(first, "/catalogs", "GET")
        self.assertEqual([c["id"] for c in first["items"]], ["1001", "3000"])
        second = self.c.call("GET", "/v5/catalogs?page_size=2&bookmark=" + first["bookmark"])
        self.assertEqual([c["id"] for c in second["items"]], ["3001", "3002"])
        self.assertIsNone(second["bookmark"])
        self.assertEqual(self.c.request("GET", "/v5/catalogs?page_size=0")[0], 400)

    def test_read_items_back(self):
        self.c.run_batch([create("a", sale_price="1.00 USD")])
        request = {"country": "US", "language": "en-US",
                   "filters": {"catalog_type": "RETAIL", "catalog_id": "1001",
                               "item_ids": ["a", "missing"]}}
        answer = self.c.call("POST", "/v5/catalogs/items", request)
        self.assertConforms(answer, "/catalogs/items", "POST")
        found, missing = answer["items"]
        self.assertEqual(found["item_id"], "a")
        self.assertEqual(found["attributes"]["image_link"], ["https://shop.example/1.jpg"])
        self.assertEqual(found["attributes"]["sale_price"], "1.00 USD")
        self.assertEqual((missing["item_id"], missing["errors"][0]["code"]),
                         ("missing", pinsim.ITEM_NOT_FOUND))
        request["language"] = "EN"  # written as en-US: another localisation
        self.assertIn("errors", self.c.call("POST", "/v5/catalogs/items", request)["items"][0])
        del request["filters"]["item_ids"]
        self.assertEqual(self.c.request("POST", "/v5/catalogs/items", request)[0], 400)

    # authentication

    def test_bearer_auth(self):
        for token in (None, "wrong"):
            self.assertError(self.c.request("GET", "/v5/catalogs", token=token), 401, 2)
        self.assertError(self.c.request("GET", "/v5/catalogs",
                                        headers={"Authorization": "Basic c2ltLWFjY2Vzcy0w"},
                                        token=None), 401, 2)
        self.assertEqual(self.c.request("GET", "/v5/catalogs",
                                        headers={"authorization": "bearer sim-access-0"},
                                        token=None)[0], 200)
        self.c.config(expire_access_token=True)
        self.assertError(self.c.request("GET", "/v5/catalogs"), 401, 2)
        self.assertEqual(self.c.control("GET", "/_sim/tokens")["valid_access_tokens"], [])

    def test_refresh_rotation(self):
        status, _, answer = self.c.refresh("sim-refresh-0")
        self.assertEqual(status, 200, answer)
        schema = {"$ref": "#/components/schemas/OauthAccessTokenResponseRefresh"}
        for v in self.documents:
            self.assertEqual(v.validate(answer, schema), [])
        self.assertConforms(answer, "/oauth/token", "POST")
        self.assertEqual((answer["token_type"], answer["expires_in"],
                          answer["refresh_token_expires_in"]), ("bearer", 2592000, 5184000))
        self.assertAlmostEqual(answer["refresh_token_expires_at"], time.time() + 5184000, delta=5)
        new_access, new_refresh = answer["access_token"], answer["refresh_token"]
        self.assertNotIn(new_refresh, ("sim-refresh-0", new_access))
        self.assertEqual(self.c.control("GET", "/_sim/tokens")["refresh_token"], new_refresh)
        # The old refresh token is dead at once; the old access token lives on.
        self.assertError(self.c.refresh("sim-refresh-0"), 400, 283)
        self.assertEqual(self.c.request("GET", "/v5/catalogs", token=new_access)[0], 200)
        self.assertEqual(self.c.request("GET", "/v5/catalogs")[0], 200)
        status, _, again = self.c.refresh(new_refresh, extra="&scope=catalogs%3Aread")
        self.assertEqual((status, again["scope"]), (200, "catalogs:read"))
        self.assertError(self.c.refresh(new_refresh), 400, 283)

    def test_refresh_refusals(self):
        self.assertError(self.c.refresh("sim-refresh-0", client="pinsim-app:wrong"), 401, 2)
        self.assertError(self.c.refresh("sim-refresh-0", client="other:pinsim-secret"), 401, 2)
        self.assertError(self.c.refresh("nope"), 400, 283)
        status, _, answer = self.c.request(
            "POST", "/v5/oauth/token", "grant_type=password",
            headers={"Authorization": "Basic " + base64.b64encode(b"pinsim-app:pinsim-secret")
                     .decode(), "Content-Type": "application/x-www-form-urlencoded"},
            token=None, raw=True)
        self.assertEqual((status, answer["code"]), (400, 1))
        self.assertIn("$.grant_type", answer["message"])
        # A refused refresh does not rotate anything.
        self.assertEqual(self.c.control("GET", "/_sim/tokens")["refresh_token"], "sim-refresh-0")

    # fault knobs

    def test_fail_next_counters(self):
        self.c.config(fail_next=[
            {"path_prefix": BATCH, "method": "POST", "status": 429, "count": 2, "retry_after": 7},
            {"path_prefix": "/v5/catalogs", "status": 503, "count": 1}])
        body = batch_body([create("a")])
        status, headers, answer = self.c.request("POST", BATCH, body)
        self.assertEqual((status, answer["code"]), (429, 8))
        self.assertEqual((headers["retry-after"], headers["x-ratelimit-reset"],
                          headers["x-ratelimit-remaining"]), ("7", "7", "0"))
        self.assertEqual(self.c.request("POST", BATCH, body)[0], 429)
        self.assertError(self.c.request("POST", BATCH, body), 503, 3)  # first rule used up
        self.assertEqual(self.c.request("POST", BATCH, body)[0], 200)
        self.assertEqual(len(self.c.control("GET", "/_sim/batches")), 1)
        self.assertEqual([r["count"] for r in self.c.control("GET", "/_sim/config")["fail_next"]],
                         [0, 0])

    def test_fail_next_after_processing_loses_the_answer(self):
        self.c.config(fail_next=[{"path_prefix": BATCH, "status": 500, "count": 1, "after": True}])
        self.assertError(self.c.request("POST", BATCH, batch_body([create("a")])), 500, 3)
        batches = self.c.control("GET", "/_sim/batches")
        self.assertEqual([b["item_count"] for b in batches], [1])  # yet the batch exists
        self.c.poll(batches[0]["batch_id"])
        self.c.poll(batches[0]["batch_id"])
        self.assertEqual(list(self.c.catalog()), ["a"])

    def test_fail_next_drops_the_connection(self):
        self.c.config(fail_next=[{"path_prefix": "/v5/catalogs", "status": 0, "count": 1}])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.c.request("GET", "/v5/catalogs")
        self.c.conn.close()
        self.assertEqual(self.c.request("GET", "/v5/catalogs")[0], 200)
        self.assertEqual([r["status"] for r in self.c.control("GET", "/_sim/requests")], [0, 200])

    def test_rate_limit(self):
        self.c.config(rate_limit={"limit": 3, "window_s": 60})
        seen = [self.c.request("GET", "/v5/catalogs") for _ in range(4)]
        self.assertEqual([s for s, _, _ in seen], [200, 200, 200, 429])
        self.assertEqual([h["x-ratelimit-remaining"] for _, h, _ in seen], ["2", "1", "0", "0"])
        self.assertEqual(seen[0][1]["x-ratelimit-limit"], "3, 3;w=60")
        self.assertEqual(seen[3][2]["code"], 8)
        self.assertTrue(0 < int(seen[3][1]["x-ratelimit-reset"]) <= 60)
        self.c.config(rate_limit=None)
        status, headers, _ = self.c.request("GET", "/v5/catalogs")
        self.assertEqual((status, headers["x-ratelimit-limit"]), (200, "100, 100;w=1"))

    def test_delay(self):
        self.c.config(delay_ms=300)
        started = time.monotonic()
        self.assertEqual(self.c.request("GET", "/v5/catalogs")[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_lose_batches(self):
        first = self.c.post_batch([create("a")])["batch_id"]
        second = self.c.post_batch([create("b")])["batch_id"]
        self.c.config(lose_batches=1)
        self.assertError(self.c.request("GET", "%s/%s" % (BATCH, first)), 404, 4331)
        self.assertError(self.c.request("GET", "%s/%s" % (BATCH, first)), 404, 4331)  # forgotten
        self.c.poll(second)
        self.assertEqual(self.c.poll(second)["status"], "COMPLETED")
        self.assertEqual(list(self.c.catalog()), ["b"])  # the lost batch never applied

    def test_fail_batches(self):
        self.c.config(fail_batches=1)
        failed = self.c.run_batch([create("a"), create("b")])
        self.assertConforms(failed, "/catalogs/items/batch/{batch_id}", "GET")
        self.assertEqual(failed["status"], "FAILED")
        self.assertEqual({r["status"] for r in failed["items"]}, {"FAILURE"})
        self.assertEqual(self.c.catalog(), {})
        self.assertEqual(self.c.run_batch([create("a")])["status"], "COMPLETED")

    def test_config_is_validated(self):
        before = self.c.control("GET", "/_sim/config")
        for bad in ({"processing_poll": 1}, {"processing_polls": -1}, {"delay_ms": "5"},
                    {"fail_next": [{"path_prefix": "/v5", "status": 404, "count": 1}]},
                    {"rate_limit": {"limit": 0, "window_s": 1}},
                    {"delete_missing": "maybe"}, {"fail_items": {"a": {"code": "x"}}},
                    {"delay_ms": 5, "bogus": 1}):
            with self.subTest(bad):
                self.assertIn("error", self.c.control("POST", "/_sim/config", bad, expect=400))
        self.assertEqual(self.c.control("GET", "/_sim/config"), before)

    # feed data sources

    def feeds(self, query="", expect=200):
        answer = self.c.call("GET", "/v5/catalogs/feeds" + query, expect=expect)
        if expect == 200:
            self.assertConforms(answer, "/catalogs/feeds", "GET")
        return answer

    def test_feed_sources_are_listed(self):
        self.assertEqual(self.feeds(), {"items": [], "bookmark": None})
        self.c.control("POST", "/_sim/catalogs", {"id": "2002", "name": "Fed",
                                                  "feed_source": True})
        self.c.control("POST", "/_sim/catalogs", {"id": "2003", "feed_source": False})
        self.c.control("POST", "/_sim/catalogs", {"id": "2004", "name": "Also fed",
                                                  "feed_source": True})
        self.assertEqual(self.c.control("GET", "/_sim/catalogs"), [
            {"id": "1001", "name": "pinsim catalog", "feed_source": False},
            {"id": "2002", "name": "Fed", "feed_source": True},
            {"id": "2003", "name": None, "feed_source": False},
            {"id": "2004", "name": "Also fed", "feed_source": True}])
        listed = self.feeds()
        self.assertIsNone(listed["bookmark"])
        feeds = listed["items"]
        self.assertEqual(len(feeds), 2)
        retail = {"$ref": "#/components/schemas/CatalogsRetailFeed"}
        for feed in feeds:
            for v in self.documents:
                required = v.document["components"]["schemas"]["CatalogsRetailFeed"]["allOf"][1]
                self.assertEqual(v.validate(feed, retail), [], feed)
                self.assertTrue(set(required["required"]) <= set(feed), feed)
            self.assertRegex(feed["id"], r"^\d+$")
            self.assertRegex(feed["location"], r"^https://")
            self.assertEqual((feed["catalog_type"], feed["format"], feed["status"]),
                             ("RETAIL", "XML", "ACTIVE"))
        self.assertNotEqual(feeds[0]["id"], feeds[1]["id"])
        self.assertEqual(self.feeds("?catalog_id=2004")["items"], [feeds[1]])
        self.assertEqual(self.feeds("?catalog_id=2003")["items"], [])
        self.assertEqual(self.feeds("?catalog_id=999")["items"], [])  # unknown: empty
        first = self.feeds("?page_size=1&ad_account_id=123")
        self.assertEqual(first["items"], [feeds[0]])
        second = self.feeds("?page_size=1&bookmark=" + first["bookmark"])
        self.assertEqual((second["items"], second["bookmark"]), ([feeds[1]], None))
        for query in ("page_size=0", "page_size=251", "page_size=3e", "catalog_id=cat",
                      "catalog_id=", "ad_account_id=1234567890123456789", "bookmark=%%%"):
            with self.subTest(query):
                status, _, answer = self.c.request("GET", "/v5/catalogs/feeds?" + query)
                self.assertEqual((status, answer["code"]), (400, 1), answer)
                self.assertConforms(answer, "/catalogs/feeds", "GET", 400)
        self.assertError(self.c.request("GET", "/v5/catalogs/feeds", token="bad"), 401, 2)
        self.assertEqual(self.c.request("POST", "/v5/catalogs/feeds", {})[0], 405)

    def test_feed_source_control(self):
        self.c.control("POST", "/_sim/catalogs/feed_source",
                       {"catalog_id": "1001", "feed_source": True})
        feed = self.feeds()["items"][0]
        self.assertEqual(self.c.control("POST", "/_sim/catalogs/feed_source",
                                        {"catalog_id": "1001", "feed_source": True}),
                         {"id": "1001", "name": "pinsim catalog", "feed_source": True})
        self.assertEqual(self.feeds()["items"], [feed])  # turning it on again: the same feed
        self.c.control("POST", "/_sim/catalogs/feed_source",
                       {"catalog_id": "1001", "feed_source": False})
        self.assertEqual(self.feeds()["items"], [])
        self.assertFalse(self.c.control("GET", "/_sim/catalogs")[0]["feed_source"])
        self.c.control("POST", "/_sim/catalogs/feed_source",
                       {"catalog_id": "777", "feed_source": True}, expect=404)
        for bad in ({"catalog_id": 1001, "feed_source": True}, {"catalog_id": "1001"},
                    {"catalog_id": "1001", "feed_source": "yes"}, [],
                    {"catalog_id": "1001", "feed_source": True, "x": 1}):
            with self.subTest(bad):
                self.c.control("POST", "/_sim/catalogs/feed_source", bad, expect=400)
        self.c.control("POST", "/_sim/catalogs", {"id": "2002", "feed_source": 1}, expect=400)
        self.assertEqual([c["id"] for c in self.c.control("GET", "/_sim/catalogs")], ["1001"])
        self.assertEqual(self.feeds()["items"], [])

    def test_upsert_refused_on_a_catalog_with_a_feed_source(self):
        self.c.run_batch([create("b"), create("d")])
        self.c.control("POST", "/_sim/catalogs/feed_source",
                       {"catalog_id": "1001", "feed_source": True})
        done = self.c.run_batch([
            {"operation": "UPSERT", "item_id": "a", "attributes": full_attributes()},
            create("c"),
            {"operation": "UPDATE", "item_id": "b", "attributes": {"price": "1.00 USD"}},
            {"operation": "UPSERT", "item_id": "b", "attributes": full_attributes(title="X")},
            {"operation": "DELETE", "item_id": "d"}])
        self.assertConforms(done, "/catalogs/items/batch/{batch_id}", "GET")
        self.assertEqual(done["status"], "COMPLETED")
        refused = {"code": pinsim.ITEM_UPSERT_FEED_SOURCE, "message": "The item UPSERT "
                   "operation is restricted to users without a feed data source."}
        self.assertEqual(pinsim.ITEM_UPSERT_FEED_SOURCE, 4010)
        self.assertEqual([(r["item_id"], r["status"], r["errors"]) for r in done["items"]], [
            ("a", "FAILURE", [refused]), ("c", "SUCCESS", []), ("b", "SUCCESS", []),
            ("b", "FAILURE", [refused]), ("d", "SUCCESS", [])])
        catalog = self.c.catalog()
        self.assertEqual(sorted(catalog), ["b", "c"])  # a not created, d deleted
        self.assertEqual(catalog["b"]["attributes"]["title"], "Denim shirt")  # not replaced
        self.assertEqual(catalog["b"]["attributes"]["price"], "1.00 USD")
        # Another catalog without a feed is not concerned; taking the feed away ends it.
        self.c.control("POST", "/_sim/catalogs", {"id": "2002"})
        upsert = [{"operation": "UPSERT", "item_id": "a", "attributes": full_attributes()}]
        self.assertEqual(self.c.run_batch(upsert, catalog_id="2002")["items"][0]["status"],
                         "SUCCESS")
        self.c.control("POST", "/_sim/catalogs/feed_source",
                       {"catalog_id": "1001", "feed_source": False})
        self.assertEqual(self.c.run_batch(upsert)["items"][0]["status"], "SUCCESS")

    # items left without a verdict

    def test_omit_items(self):
        self.c.config(omit_items=["a", "zz"])
        done = self.c.run_batch([create("a"), create("b")])
        self.assertConforms(done, "/catalogs/items/batch/{batch_id}", "GET")
        self.assertEqual(done["status"], "COMPLETED")
        self.assertEqual([r["item_id"] for r in done["items"]], ["b"])
        self.assertEqual(sorted(self.c.catalog()), ["b"])  # a not applied
        self.assertEqual(self.c.control("GET", "/_sim/config")["omit_items"], ["zz"])  # used up
        done = self.c.run_batch([create("a")])
        self.assertEqual([(r["item_id"], r["status"]) for r in done["items"]], [("a", "SUCCESS")])

    def test_omit_items_wait_for_completion(self):
        """The entry goes to the first batch holding the id to complete, not to be posted."""
        self.c.config(processing_polls=0)
        first = self.c.post_batch([create("a")])["batch_id"]
        self.c.config(omit_items=["a"])
        second = self.c.post_batch([create("a", title="Second")])["batch_id"]
        self.assertEqual(self.c.poll(second)["items"], [])
        self.assertEqual(self.c.poll(first)["items"][0]["status"], "SUCCESS")
        self.assertEqual(self.c.catalog()["a"]["attributes"]["title"], "Denim shirt")

    def test_processing_items(self):
        self.c.run_batch([create("b")])
        self.c.config(processing_items=["a", "b"])
        done = self.c.run_batch([create("a"), {"operation": "DELETE", "item_id": "b"},
                                 create("c")])
        self.assertConforms(done, "/catalogs/items/batch/{batch_id}", "GET")
        self.assertEqual(done["status"], "COMPLETED")
        self.assertEqual([(r["item_id"], r["status"], r["errors"], r["warnings"])
                          for r in done["items"]],
                         [("a", "PROCESSING", [], []), ("b", "PROCESSING", [], []),
                          ("c", "SUCCESS", [], [])])
        self.assertEqual(sorted(self.c.catalog()), ["b", "c"])  # a not created, b not deleted
        self.assertEqual(self.c.control("GET", "/_sim/config")["processing_items"], [])
        done = self.c.run_batch([create("a"), {"operation": "DELETE", "item_id": "b"}])
        self.assertEqual([r["status"] for r in done["items"]], ["SUCCESS", "SUCCESS"])
        self.assertEqual(sorted(self.c.catalog()), ["a", "c"])

    def test_item_status(self):
        self.c.config(item_status={"a": "QUEUED"})
        done = self.c.run_batch([create("a"), create("b")])
        self.assertEqual(done["status"], "COMPLETED")
        self.assertEqual([(r["item_id"], r["status"]) for r in done["items"]],
                         [("a", "QUEUED"), ("b", "SUCCESS")])
        # Outside the spec's enum, which is the point; nothing else is wrong.
        for v in self.documents:
            problems = v.validate(done, response_body_schema(
                v.document, "/catalogs/items/batch/{batch_id}", "GET", 200))
            self.assertEqual(len(problems), 1, problems)
            self.assertTrue(problems[0].startswith('$.items[0].status: "QUEUED" is not one of'),
                            problems)
        self.assertEqual(sorted(self.c.catalog()), ["b"])
        self.assertEqual(self.c.control("GET", "/_sim/config")["item_status"], {})
        self.assertEqual(self.c.run_batch([create("a")])["items"][0]["status"], "SUCCESS")

    def test_verdict_knobs_one_at_a_time(self):
        """An id in several of them: omit_items first, then processing_items, then
        item_status, one batch each."""
        self.c.config(omit_items=["a"], processing_items=["a"], item_status={"a": "QUEUED"})
        seen = []
        for _ in range(4):
            done = self.c.run_batch([create("a")])
            seen.append([r["status"] for r in done["items"]])
        self.assertEqual(seen, [[], ["PROCESSING"], ["QUEUED"], ["SUCCESS"]])

    def test_failed_without_records(self):
        self.c.config(failed_without_records=1, processing_polls=1)
        batch_id = self.c.post_batch([create("a"), create("b")])["batch_id"]
        self.assertEqual(self.c.control("GET", "/_sim/config")["failed_without_records"], 0)
        self.assertEqual(self.c.poll(batch_id)["status"], "PROCESSING")
        failed = self.c.poll(batch_id)
        self.assertConforms(failed, "/catalogs/items/batch/{batch_id}", "GET")
        self.assertEqual((failed["status"], failed["items"]), ("FAILED", []))
        self.assertRegex(failed["completed_time"], r"^\d{4}-")
        self.assertEqual(self.c.poll(batch_id), failed)
        self.assertEqual(self.c.catalog(), {})
        self.assertEqual(self.c.run_batch([create("a")])["items"][0]["status"], "SUCCESS")

    # whole batches refused

    def test_refuse_items(self):
        self.c.config(refuse_items=["b", "d"])
        body = batch_body([create("a"), create("b"), create("c"),
                           {"operation": "DELETE", "item_id": "d"}])
        for _ in range(2):  # not used up: a schema problem does not go away by itself
            status, _, answer = self.c.request("POST", BATCH, body)
            self.assertError((status, None, answer), 400, 1)
            self.assertEqual(answer["message"], "Invalid request: "
                             "$.items[1]: item 'b' is not valid against the schema; "
                             "$.items[3]: item 'd' is not valid against the schema")
        self.assertEqual(self.c.control("GET", "/_sim/batches"), [])
        self.assertEqual(self.c.run_batch([create("a")])["items"][0]["status"], "SUCCESS")
        self.c.config(refuse_items=[])
        self.assertEqual(self.c.request("POST", BATCH, body)[0], 200)

    def test_max_body_bytes(self):
        body = json.dumps(batch_body([create("a")]))
        self.c.config(max_body_bytes=len(body) - 1)
        self.c.request("GET", "/v5/catalogs")
        sock = self.c.conn.sock
        status, headers, answer = self.c.request("POST", BATCH, body, raw=True,
                                                 headers={"Content-Type": "application/json"})
        self.assertEqual((status, answer), (413, {
            "code": 1, "message": "Request entity too large: %d bytes, limit %d"
            % (len(body), len(body) - 1)}))
        self.assertEqual(headers["content-type"], "application/json")
        # The body was drained: the same connection carries the next request.
        self.assertEqual(self.c.request("GET", "/v5/catalogs")[0], 200)
        self.assertIs(self.c.conn.sock, sock)
        self.assertEqual(self.c.control("GET", "/_sim/batches"), [])
        self.c.config(max_body_bytes=len(body))  # at the limit: accepted
        self.assertEqual(self.c.request("POST", BATCH, body, raw=True,
                                        headers={"Content-Type": "application/json"})[0], 200)
        self.c.config(max_body_bytes=10)  # chunked bodies are measured decoded
        data = body.encode()
        self.c.conn.request("POST", BATCH, body=iter([data[:10], data[10:]]),
                            headers={"Authorization": "Bearer sim-access-0",
                                     "Content-Type": "application/json"}, encode_chunked=True)
        response = self.c.conn.getresponse()
        self.assertEqual((response.status, json.loads(response.read())["code"]), (413, 1))
        self.assertEqual(self.c.request("GET", "/v5/catalogs")[0], 200)
        self.assertIs(self.c.conn.sock, sock)
        self.c.config(max_body_bytes=None)
        self.assertEqual(self.c.request("POST", BATCH, body, raw=True,
                                        headers={"Content-Type": "application/json"})[0], 200)
        self.assertEqual(len(self.c.control("GET", "/_sim/batches")), 2)

    # items changed outside pinsync

    def edit(self, body, catalog_id="1001", expect=200):
        return self.c.control("POST", "/_sim/catalog/items?catalog_id=" + catalog_id, body,
                              expect=expect)

    def test_edit_items_outside_pinsync(self):
        self.c.run_batch([create("a", brand="Acme"), create("b"), create("c")])
        self.assertEqual(self.edit({"delete": ["b", "nope"],
                                    "set": {"a": {"brand": None, "title": "Edited"}},
                                    "put": {"x": {"attributes": {"title": "Put", "color": None},
                                                  "country": "DE", "language": "de"}}}),
                         {"deleted": 1, "set": 1, "put": 1})
        catalog = self.c.catalog()
        self.assertEqual(sorted(catalog), ["a", "c", "x"])
        self.assertEqual(catalog["a"]["attributes"], full_attributes(title="Edited"))
        self.assertEqual(catalog["x"], {"country": "DE", "language": "de",
                                        "attributes": {"title": "Put"}})
        self.assertEqual(self.edit({"put": {"c": {"attributes": {"title": "Whole"}}}}),
                         {"deleted": 0, "set": 0, "put": 1})
        self.assertEqual(self.c.catalog()["c"], {"country": "US", "language": "en-US",
                                                 "attributes": {"title": "Whole"}})
        # An unknown id in set: 404 naming it, nothing changed (the delete neither).
        before = self.c.catalog()
        answer = self.edit({"delete": ["a"], "set": {"c": {"title": "T"}, "ghost": {"a": "1"}}},
                           expect=404)
        self.assertIn("ghost", answer["error"])
        self.assertEqual(self.c.catalog(), before)
        for bad in ([], {"remove": ["a"]}, {"delete": "a"}, {"delete": [1]},
                    {"set": {"a": "x"}}, {"put": {"a": {"title": "no attributes key"}}},
                    {"put": {"a": {"attributes": {}, "country": 1}}}, {"put": []}):
            with self.subTest(bad):
                self.edit(bad, expect=400)
        self.assertEqual(self.c.catalog(), before)
        self.edit({}, catalog_id="999", expect=404)
        self.c.control("POST", "/_sim/catalogs", {"id": "2002"})
        self.edit({"put": {"y": {"attributes": {"title": "Y"}}}}, catalog_id="2002")
        self.assertEqual((list(self.c.catalog("2002")), sorted(self.c.catalog())),
                         (["y"], ["a", "c", "x"]))
        # The read-back sees the edit.
        request = {"country": "US", "language": "en-US",
                   "filters": {"catalog_type": "RETAIL", "catalog_id": "1001",
                               "item_ids": ["a", "b"]}}
        found, gone = self.c.call("POST", "/v5/catalogs/items", request)["items"]
        self.assertEqual(found["attributes"]["title"], "Edited")
        self.assertIn("errors", gone)

    def test_edit_lands_after_background_batches(self):
        self.c.config(background=True, processing_polls=5)
        batch_id = self.c.post_batch([create("a")])["batch_id"]
        self.assertEqual(self.edit({"set": {"a": {"title": "Edited"}}}),
                         {"deleted": 0, "set": 1, "put": 0})
        self.assertEqual(self.c.catalog()["a"]["attributes"]["title"], "Edited")
        self.assertEqual(self.c.poll(batch_id)["items"][0]["status"], "SUCCESS")
        self.assertEqual(self.c.catalog()["a"]["attributes"]["title"], "Edited")  # not again

    # read-back faults

    def read_back(self, *item_ids):
        return {"country": "US", "language": "en-US",
                "filters": {"catalog_type": "RETAIL", "catalog_id": "1001",
                            "item_ids": list(item_ids)}}

    def test_readback_garbage(self):
        self.c.run_batch([create("a")])
        self.c.config(readback_garbage=1)
        self.c.conn.request("POST", "/v5/catalogs/items", body=json.dumps(self.read_back("a")),
                            headers={"Authorization": "Bearer sim-access-0",
                                     "Content-Type": "application/json"})
        response = self.c.conn.getresponse()
        data = response.read()
        self.assertEqual((response.status, response.getheader("Content-Type")),
                         (200, "application/json"))
        self.assertEqual(int(response.getheader("Content-Length")), len(data))
        with self.assertRaises(ValueError):
            json.loads(data)
        self.assertEqual(self.c.control("GET", "/_sim/config")["readback_garbage"], 0)
        answer = self.c.call("POST", "/v5/catalogs/items", self.read_back("a"))  # same socket
        self.assertConforms(answer, "/catalogs/items", "POST")
        self.assertEqual(answer["items"][0]["attributes"]["title"], "Denim shirt")
        # A refused request does not use a count up.
        self.c.config(readback_garbage=1)
        self.assertEqual(self.c.request("POST", "/v5/catalogs/items", {"country": "US"})[0], 400)
        self.assertEqual(self.c.control("GET", "/_sim/config")["readback_garbage"], 1)

    def test_readback_errors(self):
        self.c.run_batch([create("a"), create("b")])
        self.c.config(readback_errors=["a", "ghost"])
        for _ in range(2):  # not used up
            answer = self.c.call("POST", "/v5/catalogs/items", self.read_back("a", "b", "ghost"))
            self.assertConforms(answer, "/catalogs/items", "POST")
            broken, fine, ghost = answer["items"]
            self.assertEqual(broken, {"catalog_type": "RETAIL", "item_id": "a", "errors": [
                {"code": pinsim.ITEM_READ_FAILED, "message": "Internal error reading the item."}]})
            self.assertEqual(pinsim.ITEM_READ_FAILED, 3)
            self.assertEqual(fine["attributes"]["title"], "Denim shirt")
            self.assertEqual(ghost["errors"][0]["code"], pinsim.ITEM_READ_FAILED)
        self.assertIn("a", self.c.catalog())  # the item itself is fine
        self.c.config(readback_errors=[])
        self.assertIn("attributes", self.c.call("POST", "/v5/catalogs/items",
                                                self.read_back("a"))["items"][0])

    def test_refresh_answer_lost_after_rotation(self):
        """The token rotates, then its answer is lost: the old refresh token is dead and
        only the new one, which the client never saw, works."""
        self.c.config(fail_next=[{"path_prefix": "/v5/oauth/token", "status": 0, "count": 1,
                                  "after": True}])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.c.refresh("sim-refresh-0")
        self.c.conn.close()
        tokens = self.c.control("GET", "/_sim/tokens")
        self.assertNotEqual(tokens["refresh_token"], "sim-refresh-0")
        self.assertNotEqual(tokens["access_token"], "sim-access-0")
        self.assertError(self.c.refresh("sim-refresh-0"), 400, 283)
        status, _, answer = self.c.refresh(tokens["refresh_token"])
        self.assertEqual(status, 200, answer)
        self.assertConforms(answer, "/oauth/token", "POST")
        self.assertEqual(self.c.request("GET", "/v5/catalogs",
                                        token=tokens["access_token"])[0], 200)
        self.assertEqual([r["status"] for r in self.c.control("GET", "/_sim/requests")],
                         [0, 400, 200, 200])

    def test_new_knobs_are_validated_shown_and_reset(self):
        defaults = {"failed_without_records": 0, "omit_items": [], "processing_items": [],
                    "item_status": {}, "refuse_items": [], "max_body_bytes": None,
                    "readback_garbage": 0, "readback_errors": []}
        config = self.c.control("GET", "/_sim/config")
        self.assertEqual({k: config[k] for k in defaults}, defaults)
        for bad in ({"failed_without_records": -1}, {"failed_without_records": True},
                    {"omit_items": "a"}, {"omit_items": [1]}, {"processing_items": {"a": 1}},
                    {"item_status": ["a"]}, {"item_status": {"a": 1}},
                    {"refuse_items": None}, {"max_body_bytes": -1}, {"max_body_bytes": "10"},
                    {"readback_garbage": 1.5}, {"readback_errors": [None]},
                    {"omit_items": ["a"], "readback_garbage": -2}):
            with self.subTest(bad):
                self.assertIn("error", self.c.control("POST", "/_sim/config", bad, expect=400))
        self.assertEqual(self.c.control("GET", "/_sim/config"), config)
        settings = {"failed_without_records": 2, "omit_items": ["a", "b", "a"],
                    "processing_items": ["c"], "item_status": {"d": "QUEUED"},
                    "refuse_items": ["e"], "max_body_bytes": 1000, "readback_garbage": 3,
                    "readback_errors": ["f"]}
        shown = self.c.config(**settings)
        settings["omit_items"] = ["a", "b"]
        self.assertEqual({k: shown[k] for k in settings}, settings)
        self.assertEqual(self.c.control("GET", "/_sim/config"), shown)
        self.c.control("POST", "/_sim/catalogs", {"id": "2002", "feed_source": True})
        self.c.control("POST", "/_sim/catalogs/feed_source",
                       {"catalog_id": "1001", "feed_source": True})
        self.c.control("POST", "/_sim/reset")
        self.assertEqual(self.c.control("GET", "/_sim/config"), config)
        self.assertEqual(self.c.control("GET", "/_sim/catalogs"),
                         [{"id": "1001", "name": "pinsim catalog", "feed_source": False}])
        self.assertEqual(self.feeds()["items"], [])

    # HTTP behaviour

    def test_routing(self):
        self.assertError(self.c.request("GET", "/v5/pins"), 404, 404)
        self.assertError(self.c.request("GET", "/v4/catalogs"), 404, 404)
        status, headers, answer = self.c.request("DELETE", BATCH)
        self.assertEqual((status, answer["code"], headers["allow"]), (405, 5, "POST"))
        self.assertEqual(self.c.request("POST", "/_sim/nothing", token=None)[0], 404)

    def test_response_headers(self):
        status, headers, _ = self.c.request("GET", "/v5/catalogs")
        self.assertEqual(headers["content-type"], "application/json")
        self.assertRegex(headers["x-pinterest-rid"], r"^[0-9a-f]{16}$")
        self.assertEqual(headers["x-ratelimit-limit"], "100, 100;w=1")
        self.assertTrue(headers["x-ratelimit-remaining"].isdigit())
        self.assertTrue(headers["x-ratelimit-reset"].isdigit())
        rid2 = self.c.request("GET", "/v5/nothing")[1]["x-pinterest-rid"]
        self.assertNotEqual(headers["x-pinterest-rid"], rid2)

    def test_keep_alive_and_chunked_body(self):
        self.c.request("GET", "/v5/catalogs")
        sock = self.c.conn.sock
        body = json.dumps(batch_body([create("a")])).encode()
        self.c.conn.request("POST", BATCH, body=iter([body[:10], body[10:]]),
                            headers={"Authorization": "Bearer sim-access-0",
                                     "Content-Type": "application/json"},
                            encode_chunked=True)
        response = self.c.conn.getresponse()
        answer = json.loads(response.read())
        self.assertEqual((response.status, answer["status"]), (200, "PROCESSING"))
        self.assertEqual(self.c.request("GET", "/v5/catalogs")[0], 200)
        self.assertIs(self.c.conn.sock, sock)  # one connection for all three
        logged = self.c.control("GET", "/_sim/requests")[1]
        self.assertEqual(logged["headers"]["transfer-encoding"], "chunked")
        self.assertEqual(logged["body"]["items"][0]["item_id"], "a")

    def test_expect_100_continue(self):
        body = json.dumps(batch_body([create("a")])).encode()
        with socket.create_connection(("127.0.0.1", self.sim.port), timeout=10) as s:
            s.sendall(b"POST " + BATCH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer sim-access-0\r\nContent-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n"))
            s.sendall(body)
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += s.recv(4096)
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 OK"), reply)

    def test_concurrent_clients(self):
        def worker(n, failures):
            client = Client(self.sim.port)
            try:
                for k in range(5):
                    done = client.run_batch([create("t%d-%d" % (n, k))])
                    if done["items"][0]["status"] != "SUCCESS":
                        failures.append(done)
            except Exception as exc:  # reported by the assertion below
                failures.append(exc)
            finally:
                client.conn.close()
        failures = []
        threads = [threading.Thread(target=worker, args=(n, failures)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])
        self.assertEqual(len(self.c.catalog()), 40)
        log = self.c.control("GET", "/_sim/requests")
        self.assertEqual(len(log), 40 * 3)  # a POST and two polls per batch
        self.assertEqual(len({r["seq"] for r in log}), len(log))

    def test_request_log(self):
        self.c.request("POST", BATCH, batch_body([create("a")]), headers={"X-Trace": "t1"})
        self.c.refresh("sim-refresh-0")
        self.c.request("GET", "/v5/catalogs?page_size=5", token="bad")
        self.c.control("GET", "/_sim/catalog")  # control calls are not logged
        log = self.c.control("GET", "/_sim/requests")
        self.assertEqual([(r["method"], r["path"], r["status"]) for r in log], [
            ("POST", BATCH, 200), ("POST", "/v5/oauth/token", 200), ("GET", "/v5/catalogs", 401)])
        self.assertEqual([r["seq"] for r in log], sorted(r["seq"] for r in log))
        post, token, listing = log
        self.assertEqual(post["body"], batch_body([create("a")]))
        self.assertEqual(post["headers"]["x-trace"], "t1")
        self.assertEqual(post["headers"]["authorization"], "Bearer sim-access-0")
        self.assertEqual(post["query"], "")
        self.assertEqual(token["body"], "grant_type=refresh_token&refresh_token=sim-refresh-0")
        self.assertEqual((listing["query"], listing["body"]), ("page_size=5", None))
        self.c.control("POST", "/_sim/requests/clear")
        self.assertEqual(self.c.control("GET", "/_sim/requests"), [])

    def test_reset(self):
        self.c.run_batch([create("a")])
        self.c.refresh("sim-refresh-0")
        self.c.config(delay_ms=5)
        self.c.control("POST", "/_sim/reset")
        self.assertEqual((self.c.catalog(), self.c.control("GET", "/_sim/batches"),
                          self.c.control("GET", "/_sim/requests")), ({}, [], []))
        self.assertEqual(self.c.control("GET", "/_sim/config")["delay_ms"], 0)
        self.assertEqual(self.c.control("GET", "/_sim/tokens")["refresh_token"], "sim-refresh-0")


class SimulatorContractTest(SimulatorCases, unittest.TestCase):
    """Layer contract: pinsim without the full spec."""


@full_spec_layer
class SimulatorFullSpecTest(SimulatorCases, unittest.TestCase):
    """Layer full-spec: pinsim with Pinterest's full description too."""

    SPEC = SPEC_PATH
    LAYERS = ["contract", "full-spec"]


class HarnessHelpersTest(unittest.TestCase):
    """The control helpers of tests/lib/harness.py's Simulator, on a real pinsim."""

    def test_helpers(self):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
        import harness  # the integration tests' harness, found through sys.path above
        sim = harness.Simulator("--spec", SPEC_PATH)
        try:
            self.assertEqual(sim.add_catalog(2002)["feed_source"], False)  # the old form
            self.assertEqual(sim.add_catalog("2003", "Fed", feed_source=True)["feed_source"],
                             True)
            self.assertEqual(sim.set_feed_source(2002),
                             {"id": "2002", "name": "catalog 2002", "feed_source": True})
            sim.set_feed_source("2003", on=False)
            self.assertEqual(sim.catalogs(), [
                {"id": "1001", "name": "pinsim catalog", "feed_source": False},
                {"id": "2002", "name": "catalog 2002", "feed_source": True},
                {"id": "2003", "name": "Fed", "feed_source": False}])
            self.assertEqual(sim.edit_catalog(put={"a": {"attributes": {"title": "A"}},
                                                   "b": {"attributes": {"title": "B"}}}),
                             {"deleted": 0, "set": 0, "put": 2})
            self.assertEqual(sim.edit_catalog(delete=["a"], set={"b": {"title": "B2"}}),
                             {"deleted": 1, "set": 1, "put": 0})
            self.assertEqual(sim.catalog(), {"b": {"country": "US", "language": "en-US",
                                                   "attributes": {"title": "B2"}}})
            sim.edit_catalog("2002", put={"c": {"attributes": {"title": "C"},
                                                "country": "FR", "language": "fr"}})
            self.assertEqual(sim.catalog("2002")["c"]["country"], "FR")
        finally:
            sim.stop()


class CommandLineTest(unittest.TestCase):
    """Options other than the defaults, token expiry by time included."""

    def test_options(self):
        sim = Sim("--access-ttl", "1", "--refresh-ttl", "1", "--processing-polls", "0",
                  "--catalog-id", "555", "--access-token", "at", "--refresh-token", "rt")
        try:
            c = Client(sim.port)
            self.assertEqual([x["id"] for x in c.call("GET", "/v5/catalogs", token="at")["items"]],
                             ["555"])
            posted = c.call("POST", BATCH, batch_body([create("a")], catalog_id="555"), token="at")
            done = c.call("GET", "%s/%s" % (BATCH, posted["batch_id"]), token="at")
            self.assertEqual(done["status"], "COMPLETED")  # no PROCESSING poll
            self.assertEqual(list(c.catalog("555")), ["a"])
            time.sleep(1.1)
            self.assertEqual(c.request("GET", "/v5/catalogs", token="at")[2]["code"], 2)
            status, _, answer = c.refresh("rt")
            self.assertEqual((status, answer["code"]), (400, 283))
            c.conn.close()
        finally:
            self.assertEqual(sim.stop()[0], 0)


class ProcessTest(unittest.TestCase):
    """Start-up, shut-down and what the simulator prints."""

    def test_ready_file_and_sigterm(self):
        sim = Sim()
        self.assertRegex(sim.ready_text, r"^\d+\n$")
        # Written by rename: no temporary file is left behind.
        self.assertEqual(sorted(os.listdir(os.path.dirname(sim.ready))), ["log", "port"])
        started = time.monotonic()
        status, _, _ = sim.stop(signal.SIGTERM)
        self.assertEqual(status, 0)
        self.assertLess(time.monotonic() - started, 5)

    def test_sigint(self):
        self.assertEqual(Sim().stop(signal.SIGINT)[0], 0)

    def test_console_log_has_no_secrets(self):
        secrets_used = ["SECRET-client-42", "tok-ACCESS-77", "tok-REFRESH-88"]
        sim = Sim("--client-secret", secrets_used[0], "--access-token", secrets_used[1],
                  "--refresh-token", secrets_used[2], "--client-id", "app-9")
        try:
            c = Client(sim.port)
            status, _, answer = c.refresh(secrets_used[2], client="app-9:" + secrets_used[0])
            self.assertEqual(status, 200)
            secrets_used += [answer["access_token"], answer["refresh_token"]]
            c.request("GET", "/v5/catalogs?bookmark=" + secrets_used[1], token=secrets_used[3])
            c.request("GET", "/v5/catalogs", token=secrets_used[1])
            c.request("POST", BATCH, "x" * 10, raw=True, token=secrets_used[3])
            with socket.create_connection(("127.0.0.1", sim.port)) as s:
                s.sendall(b"GARBAGE " + secrets_used[1].encode() + b"\r\n\r\n")
                s.recv(1000)
            c.conn.close()
            with open(sim.log) as f:
                log = f.read()
        finally:
            _, out, err = sim.stop()
        self.assertIn("pinsim: POST /v5/oauth/token 200\n", log)
        self.assertIn("pinsim: GET /v5/catalogs 200\n", log)
        self.assertIn("pinsim: POST /v5/catalogs/items/batch 400\n", log)
        for text in (log, out.decode(), err.decode()):
            for secret in secrets_used:
                self.assertNotIn(secret, text)


class StartUpTest(unittest.TestCase):
    """Which documents pinsim checks with, and what it says about them (layer contract:
    these need no full spec)."""

    def refuses(self, sim, body=None):
        """The answer to a body the contract refuses (by default an unknown property)."""
        c = Client(sim.port)
        try:
            if body is None:
                body = good_mix()
                body["unknown_top_level_field"] = 1
            return c.request("POST", BATCH, body)
        finally:
            c.conn.close()

    def test_contract_only_when_the_full_spec_is_missing(self):
        sim = Sim(spec=MISSING_SPEC)
        try:
            status, _, answer = self.refuses(sim)
            self.assertEqual((status, answer["code"]), (400, 1), answer)
            self.assertIn("$.unknown_top_level_field: unknown property", answer["message"])
            line = "pinsim: listening on 127.0.0.1:%d (contract only: %s not found)\n" % (
                sim.port, MISSING_SPEC)
            self.assertIn(line, sim.log_text())
        finally:
            self.assertEqual(sim.stop()[0], 0)

    def test_no_spec_is_a_deprecated_alias(self):
        """--no-spec only means: do not load the full spec.  Nothing runs unchecked."""
        sim = Sim("--no-spec")
        try:
            self.assertEqual(self.refuses(sim)[0], 400)
            self.assertIn("(contract only: --no-spec given (deprecated))", sim.log_text())
            c = Client(sim.port)
            self.assertEqual(c.control("GET", "/_sim/checks")["layers"], ["contract"])
            c.conn.close()
        finally:
            sim.stop()

    def test_shared_dir_variable_is_the_only_place_looked_at(self):
        env = dict(os.environ, PINSYNC_SHARED_DIR="/nonexistent")
        sim = Sim(spec=None, env=env)
        try:
            self.assertIn("(contract only: /nonexistent/pinterest-api/openapi.json not found)",
                          sim.log_text())
        finally:
            sim.stop()
        default = subprocess.run(
            [sys.executable, "-c", "import pinsim; print(pinsim.DEFAULT_SPEC)"], cwd=HERE,
            env={k: v for k, v in os.environ.items() if k != "PINSYNC_SHARED_DIR"},
            stdout=subprocess.PIPE, check=True, text=True).stdout.strip()
        self.assertEqual(default, os.path.normpath(os.path.join(
            HERE, "..", "..", "..", "shared", "pinterest-api", "openapi.json")))

    def test_a_broken_document_stops_the_start(self):
        """A contract or full spec that is there but unusable never means fewer checks."""
        with tempfile.TemporaryDirectory(prefix="pinsim-test-") as tmp:
            broken = os.path.join(tmp, "broken.json")
            with open(broken, "w") as f:
                f.write("{not json")
            other_closure = os.path.join(tmp, "open-contract.json")
            contract = json.loads(json.dumps(load_contract()))
            del contract["components"]["schemas"]["UpdatableItemAttributes"]["x-closed"]
            with open(other_closure, "w") as f:
                json.dump(contract, f)
            for args in (("--contract", broken), ("--contract", os.path.join(tmp, "absent")),
                         ("--contract", other_closure), ("--spec", broken)):
                with self.subTest(args):
                    proc = subprocess.run(
                        [sys.executable, PINSIM, "--port", "0", "--spec", MISSING_SPEC, *args],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertRegex(proc.stderr, r"^pinsim: cannot use the (contract|full spec)")

    def test_full_spec_refusals_add_to_the_contract_s(self):
        """With a full spec, a body is refused with the reasons of both, each once; what
        only the spec refuses is logged as a gap in the contract.  (A stricter copy of
        the contract stands in for the spec here.)"""
        stricter = json.loads(json.dumps(load_contract()))
        batch = stricter["components"]["schemas"]["CatalogsRetailBatchRequest"]
        batch["properties"]["items"]["maxItems"] = 2
        with tempfile.TemporaryDirectory(prefix="pinsim-test-") as tmp:
            path = os.path.join(tmp, "openapi.json")
            with open(path, "w") as f:
                json.dump(stricter, f)
            sim = Sim(spec=path)
            try:
                three = batch_body([create("a"), create("b"), create("c")])
                status, _, answer = self.refuses(sim, three)
                self.assertEqual((status, answer), (400, {
                    "code": 1, "message": "$.items: expected at most 2 items, got 3"}))
                three["dry_run"] = True
                self.assertEqual(self.refuses(sim, three)[2]["message"],
                                 "$.dry_run: unknown property (additionalProperties is false); "
                                 "$.items: expected at most 2 items, got 3")
                log = sim.log_text()
                self.assertIn("(contract and full spec 5.23.0 %s)" % path, log)
                self.assertEqual(log.count("contract gap:"), 1, log)
                self.assertIn("pinsim: contract gap: POST /catalogs/items/batch accepted by the "
                              "contract, refused by the full spec: $.items: expected at most "
                              "2 items, got 3\n", log)
            finally:
                sim.stop()


@full_spec_layer
class FullSpecStartUpTest(unittest.TestCase):
    """Layer full-spec: pinsim finds Pinterest's description and says so."""

    def test_start_up_line(self):
        sim = Sim()
        try:
            self.assertIn("pinsim: listening on 127.0.0.1:%d (contract and full spec 5.23.0 %s)\n"
                          % (sim.port, SPEC_PATH), sim.log_text())
        finally:
            self.assertEqual(sim.stop()[0], 0)


if __name__ == "__main__":
    sys.stderr.write("test_pinsim: layer contract (%s): run\n" % CONTRACT_PATH)
    sys.stderr.write("test_pinsim: layer full-spec (%s): %s\n" % (
        SPEC_PATH, "run" if SPEC_FOUND else "skipped: %s not found; set PINSYNC_SHARED_DIR"
        % SPEC_PATH))
    unittest.main()
