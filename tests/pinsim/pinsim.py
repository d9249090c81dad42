#!/usr/bin/env python3
"""pinsim: a stateful stand-in for the Pinterest REST API v5, for pinsync's tests.

It serves, on 127.0.0.1 only, the small part of https://api.pinterest.com/v5 that
pinsync uses.  Python 3 standard library only.

    python3 tests/pinsim/pinsim.py [--port 0] [--ready-file PATH] [--contract PATH]
        [--spec PATH] [--client-id ID] [--client-secret S] [--access-token T]
        [--refresh-token R] [--access-ttl SECONDS] [--refresh-ttl SECONDS]
        [--processing-polls N] [--catalog-id ID] [--log-file PATH]

Every request (body and query parameters) is checked against the project's contract,
contract.json beside this file (--contract): the facts of Pinterest's OpenAPI
description v5.23.0 that matter for pinsync's requests, with the item attribute
objects closed.  When Pinterest's full description is found (--spec, default
$PINSYNC_SHARED_DIR/pinterest-api/openapi.json, else ../shared/pinterest-api/
openapi.json beside the checkout), requests are checked against it too, and a request
refused for the reasons of either is refused with the reasons of both (each once); a
request only the full spec refuses is also logged as "contract gap: ...".  Without the
file pinsim runs on the contract alone.  The start-up line says which:

    pinsim: listening on 127.0.0.1:PORT (contract and full spec 5.23.0 PATH)
    pinsim: listening on 127.0.0.1:PORT (contract only: PATH not found)

--no-spec (deprecated) skips the full spec even when it is there.  A contract or full
spec that exists but cannot be used stops the start with exit status 2: a broken file
never means fewer checks.

With --port 0 the kernel picks a port.  Once the server listens, the port number (digits
and a newline) is written to --ready-file atomically (temporary file, then rename).
SIGTERM or SIGINT stops the server; the exit status is then 0.  One line per request,
"METHOD /path STATUS", goes to --log-file (default: stderr).  Tokens, secrets and query
strings are never printed.

API (all under /v5; answers are JSON with Pinterest's error shape {"code", "message"})
------------------------------------------------------------------------------------
POST /v5/oauth/token
    Basic auth with the client id and secret (else 401 code 2), form body
    grant_type=refresh_token&refresh_token=... (scope, continuous_refresh accepted); a
    form the checks refuse gets 400 code 1, another grant_type too.
    An unknown, used or expired refresh token gives 400 code 283.  Success issues a new
    access token and a new refresh token; the old refresh token stops working at once,
    old access tokens stay valid until they expire.  The answer has the fields of the
    spec's OauthAccessTokenResponseRefresh.
Every other /v5 endpoint needs "Authorization: Bearer <valid access token>", else 401
code 2.
Every request whose body or query parameters the checks refuse gets 400 code 1
"<JSON path>: <reason>" (all reasons, joined by "; "); a query parameter's reason reads
"Parameter 'NAME': <reason> (was VALUE)" or "Parameter 'NAME' was not numeric (was V)".
POST /v5/catalogs/items/batch
    The body is checked (CatalogsRetailBatchRequest).  Stricter than the full spec:
    item attribute objects are closed, so an attribute name the schema does not declare
    is refused (the spec leaves those objects open; whether Pinterest refuses or drops
    such names, pinsync must not send them), and UPDATE cannot carry image_link,
    additional_image_link or video_link; lengths the spec states in words ("<= 500
    characters") are enforced; only RETAIL batches are taken.
    An unknown catalog_id gives 404 code 678.  A valid body is recorded, not applied,
    and answered with a CatalogsRetailItemsBatch in status PROCESSING and no items.
    Knobs can refuse a body whole: one naming an item of refuse_items gets 400 code 1
    "Invalid request: $.items[I]: item 'ID' is not valid against the schema" (one such
    reason per offending item, joined by "; "); one longer than max_body_bytes gets 413
    code 1 "Request entity too large: N bytes, limit M", before authentication, as a
    front end would (the body is still read to its end, so the connection stays
    usable).  Neither is recorded.
    The legacy single-operation body (CatalogsItemsBatchRequest: "operation" at the top,
    no "catalog_type"), which the full spec allows, is refused with 400 code 1 before
    the checks: pinsync sends the per-item ("vertical") form, the only one the contract
    describes.
GET /v5/catalogs/items/batch/{batch_id}
    Unknown id: 404 code 4331.  The first N polls of a batch (N = processing polls when
    it was posted) answer status PROCESSING with every item in PROCESSING; the next poll
    applies the batch to the catalog and answers COMPLETED with one ItemProcessingRecord
    per item, in request order; later polls repeat that answer.  Item rules:
      CREATE  FAILURE when the item exists (item_id, code 4001) or when title,
              description, link, image_link, price or availability is missing or empty
              (one error per attribute, code 102); else the item is stored.
      UPSERT  the same attribute check; creates the item or replaces all its attributes.
              On a catalog with a feed data source every UPSERT is a FAILURE, code 4010
              "The item UPSERT operation is restricted to users without a feed data
              source." (the spec's words; it documents no code), attribute left out.
      UPDATE  FAILURE when the item does not exist (item_id, code 4002).  Sets each
              attribute of the body; each update_mask name absent from the body is
              removed from the item (how a sale_price is cleared).
      DELETE  removes the item.  An absent item is a SUCCESS with a warning (item_id,
              code 4003): deleting is idempotent.  Config delete_missing "failure"
              turns that into a FAILURE with the same code.
    A null attribute value means "no value": it is not stored.  Items are keyed by
    catalog id and item id; the country and language of the last write are kept.
    Knobs can leave items without a verdict, each entry used once, by the first batch
    holding that id to complete (in this order of precedence; only the entry used is
    consumed): omit_items leaves the item out of the COMPLETED answer, processing_items
    reports it in status PROCESSING, item_status reports it with the status string given
    (outside the spec's enum if so asked); in all three the item is not applied.
POST /v5/catalogs/items
    Reads items back (CatalogsItemsRequest, checked; RETAIL only).  Each id gives a
    CatalogsRetailItemResponse, image_link as an array as the response schema requires,
    or, when the item is absent
    or was written with another country/language, the spec's error item form
    {"catalog_type", "item_id", "errors": [...]}.  An id of readback_errors always gets
    that error form, with {"code": 3, "message": "Internal error reading the item."}.
    While readback_garbage counts, a valid request is answered 200 with a body that is
    not JSON ("<html>oops", Content-Type application/json).
GET /v5/catalogs?page_size=&bookmark=
    The catalogs, oldest first, paginated with an opaque bookmark (query checked).
GET /v5/catalogs/feeds?catalog_id=&page_size=&bookmark=&ad_account_id=
    The feed data sources, as the spec's paginated list of CatalogsFeed: one RETAIL
    feed (CatalogsRetailFeed, every required field: format XML, status ACTIVE, an https
    location, ...) per catalog with a feed source, oldest catalog first; only that
    catalog's when catalog_id is given (an unknown one gives an empty list).  As in
    the spec, the feed object has no catalog_id field: ask with ?catalog_id= to learn
    whether a catalog has one.  The query parameters are checked: page_size 1..250
    (default 25), catalog_id and ad_account_id digits (ad_account_id at most 18).
Other paths: 404 code 404; a known path with another method: 405 code 5.

Every answer carries x-pinterest-rid, x-ratelimit-limit ("L, L;w=W"),
x-ratelimit-remaining and x-ratelimit-reset.  The counter is one fixed window over all
/v5 requests, 100 per second and not enforced unless the rate_limit knob is set.
HTTP/1.1 keep-alive, Content-Length on every answer, chunked request bodies and
"Expect: 100-continue" are supported.

Control API (no auth, under /_sim/, not in the request log)
----------------------------------------------------------
GET  /_sim/requests          logged /v5 requests, oldest first: {"seq", "t" (arrival,
                             Unix seconds), "method", "path", "query" (raw string),
                             "headers" {lower-case name: value}, "body" (JSON, else
                             text, else null), "status"}
POST /_sim/requests/clear    empties the log
GET  /_sim/catalog?catalog_id=1001
                             {"items": {item_id: {"country", "language", "attributes"}}}
POST /_sim/catalog/reset[?catalog_id=]
                             removes the items of one catalog, or of all
POST /_sim/catalog/items[?catalog_id=1001]
                             edits items as someone outside pinsync would (Pinterest's UI,
                             another tool): {"delete": [item_id], "set": {item_id: {attr:
                             value or null}}, "put": {item_id: {"attributes": {...},
                             "country": "US", "language": "en-US"}}}, every key optional,
                             applied at once to the stored catalog, delete first, then
                             put, then set, all or nothing.  delete ignores absent ids;
                             put stores an item whole (country and language default to
                             US and en-US; null attributes are not stored); set changes
                             attributes of an existing item (null removes one), an
                             absent id gives 404 naming it and changes nothing.  Answers
                             {"deleted", "set", "put"} (counts).  With the background
                             knob, batches posted to the catalog complete first, so the
                             edit lands after them.
POST /_sim/catalogs          {"id": "<digits>", "name": ..., "feed_source": false} adds a
                             RETAIL catalog, with a feed data source when feed_source is
                             true
GET  /_sim/catalogs          [{"id", "name", "feed_source"}], oldest first
POST /_sim/catalogs/feed_source
                             {"catalog_id": "<digits>", "feed_source": true|false} gives an
                             existing catalog a feed data source or takes it away (404 for
                             an unknown catalog); answers {"id", "name", "feed_source"}
POST /_sim/batches/finish    {"batch_id"}: that batch completes at its next poll
GET  /_sim/batches           posted batches, oldest first: {"batch_id", "catalog_id",
                             "status", "created_time", "item_count", "polls_left"}
GET  /_sim/tokens            {"access_token", "access_token_expires_at", "refresh_token",
                             "refresh_token_expires_at", "valid_access_tokens"}
GET  /_sim/checks            what requests are checked against: {"layers": ["contract"]
                             or ["contract", "full-spec"], "contract": path, "spec": path
                             or null, "summary": the start-up line's words}
GET  /_sim/config            the knobs below, with counters as they stand
POST /_sim/config            a JSON object setting any of:
    processing_polls  int >= 0, for batches posted from now on
    fail_items        {item_id: {"attribute", "code", "message"}}: those items end in
                      FAILURE with that error and are not applied (replaces the map)
    fail_next         [{"path_prefix", "method" (optional), "status", "count",
                      "retry_after" (optional), "after" (optional)}] (replaces the list).
                      Each matching /v5 request uses one count of the first rule that
                      matches.  status 429 answers code 8 with x-ratelimit-remaining 0
                      (and Retry-After when retry_after is set); 5xx answers code 3;
                      0 closes the connection without an answer.  With "after": true the
                      request is first processed as usual (a batch is recorded, a token
                      rotated) and then its answer, unless it is an error, is replaced by
                      the fault: a reply lost on the way back.
    delay_ms          int >= 0, added before every /v5 answer
    expire_access_token  true: every access token issued so far is expired now
    rate_limit        {"limit": N, "window_s": W} enforced (429 code 8 past N requests
                      in the window), or null for the default unenforced counter
    lose_batches      int: the next N polls of known batches answer 404 code 4331 and
                      the batch is forgotten (never applied if it had not completed)
    fail_batches      int: the next N batches posted end in status FAILED, every item
                      FAILURE, nothing applied
    background        true: batches finish on their own, as Pinterest's do, whether
                      polled or not: every read of a catalog (POST /v5/catalogs/items,
                      GET /_sim/catalog) first completes the batches posted to it
    skip_batches      int: the next N batches posted are skipped as recent duplicates:
                      COMPLETED with created_time null and no items, nothing applied
    delete_missing    "success" (default) or "failure"
    failed_without_records  int: the next N batches posted end in status FAILED with
                      "items": [] (no record at all), nothing applied (fail_batches
                      goes first when both count)
    omit_items        [item_id]: the first batch holding the id to complete leaves that
                      item out of its COMPLETED answer and does not apply it; the entry
                      is then used up (replaces the list)
    processing_items  [item_id]: likewise, the item is reported in status PROCESSING
                      (no errors, no warnings) in a COMPLETED batch, not applied
    item_status       {item_id: "STATUS"}: likewise, the item is reported with that raw
                      status string (e.g. "QUEUED", outside the spec's enum), not applied
    refuse_items      [item_id]: a batch naming any of them is refused whole with 400
                      code 1 (see POST /v5/catalogs/items/batch); stays until replaced
    max_body_bytes    int, or null (default) for no limit: a batch body longer than that
                      gets 413 code 1, nothing recorded
    readback_garbage  int: the next N valid POST /v5/catalogs/items answer 200 with a
                      body that is not JSON
    readback_errors   [item_id]: POST /v5/catalogs/items answers those ids in the error
                      item form, code 3, even when they exist; stays until replaced
    Unknown keys or bad values: 400, nothing changed.
POST /_sim/reset             back to the start-up state (catalogs and their feed
                             sources, batches, tokens, log, knobs)
"""

import argparse
import base64
import binascii
import copy
import itertools
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openapi_validate  # the sibling module: the script's folder is on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))
# The project's own contract: always used.
DEFAULT_CONTRACT = os.path.join(HERE, "contract.json")
# Pinterest's full description lives in the shared folder beside the checkout
# (PINSYNC_SHARED_DIR names it elsewhere; set, it is the only place looked at); it is
# read at run time, never copied into the project, and used when it is there.
DEFAULT_SPEC = os.path.normpath(os.path.join(
    os.environ.get("PINSYNC_SHARED_DIR") or os.path.join(HERE, "..", "..", "..", "shared"),
    "pinterest-api", "openapi.json"))

# Item attribute objects that pinsim closes: those the contract marks x-closed (see
# openapi_validate's "closed"); the same names are closed in the full spec.
CLOSED_SCHEMAS = ("ItemAttributesRequest", "UpdatableItemAttributes")
REQUIRED_ATTRIBUTES = ("title", "description", "link", "image_link", "price", "availability")
SCOPE = "catalogs:read,catalogs:write"
MAX_BODY = 64 * 1024 * 1024
DEFAULT_RATE = {"limit": 100, "window_s": 1}

# Per-item codes.  The spec documents none besides an example (106, "Title is missing
# from product metadata."); 102 follows that style, the 4xxx ones are pinsim's own.
ITEM_MISSING_ATTRIBUTE = 102
ITEM_ALREADY_EXISTS = 4001
ITEM_NOT_FOUND = 4002
ITEM_DELETE_ABSENT = 4003
# An UPSERT on a catalog with a feed data source.  The spec gives only the words (POST
# /catalogs/items/batch: "The item UPSERT operation is restricted to users without a
# feed data source"), no code: 4010 is pinsim's own.
ITEM_UPSERT_FEED_SOURCE = 4010
UPSERT_FEED_SOURCE_MESSAGE = ("The item UPSERT operation is restricted to users without "
                              "a feed data source.")
BATCH_FAILED_CODE = 3
ITEM_READ_FAILED = 3  # the readback_errors knob: Pinterest's code for an internal error

ERR_AUTH = (401, 2, "Authentication failed.")
ERR_REFRESH = (400, 283, "Invalid refresh token")
ERR_NO_BATCH = (404, 4331, "Sorry! We could not find your batch ID.")
ERR_NO_CATALOG = (404, 678, "Sorry! We couldn't find that catalog. "
                  "Please ensure you have access to a valid catalog id.")
ERR_RATE = (429, 8, "This request exceeded a rate limit. This can happen if the client "
            "exceeds one of the published rate limits within a short time window.")
ERR_INTERNAL = (3, "Internal error")
GARBAGE_BODY = b"<html>oops"  # the readback_garbage knob's answer
OMIT = object()  # the omit_items verdict: no record in the batch's answer


class ApiError(Exception):
    """An error answer in Pinterest's shape."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class ControlError(Exception):
    """A bad control API request (400)."""


def utc_stamp():
    """Now in Pinterest's batch time format: YYYY-MM-DDThh:mm:ss, UTC, no zone suffix."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def is_empty(value):
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def item_error(attribute, code, message):
    """An ItemValidationEvent; attribute None leaves the field out."""
    event = {"code": code, "message": message}
    if attribute is not None:
        event["attribute"] = attribute
    return event


class Batch:
    """One posted batch: its request, and its answer once completed."""

    def __init__(self, batch_id, catalog_id, body, polls, fail):
        """fail: None, "records" (FAILED, every item FAILURE) or "bare" (FAILED, no
        item record)."""
        self.batch_id = batch_id
        self.catalog_id = catalog_id
        self.country = body["country"]
        self.language = body["language"]
        self.items = body["items"]
        self.polls_left = polls
        self.fail = fail
        self.created_time = utc_stamp()
        self.completed_time = None
        self.status = "PROCESSING"
        self.results = None

    def view(self):
        if self.results is None:
            items = [{"item_id": item["item_id"], "status": "PROCESSING",
                      "errors": [], "warnings": []} for item in self.items]
        else:
            items = self.results
        return {"batch_id": self.batch_id, "catalog_type": "RETAIL",
                "created_time": self.created_time, "completed_time": self.completed_time,
                "status": self.status, "items": items}


class RawBody(bytes):
    """An answer body sent as it is rather than as JSON (the readback_garbage knob)."""


FORM = "application/x-www-form-urlencoded"
# The operations whose requests are checked: (path in the documents, method, media type
# of the body or None).
CHECKED_OPERATIONS = (
    ("/oauth/token", "POST", FORM),
    ("/catalogs", "GET", None),
    ("/catalogs/feeds", "GET", None),
    ("/catalogs/items/batch", "POST", "application/json"),
    ("/catalogs/items/batch/{batch_id}", "GET", None),
    ("/catalogs/items", "POST", "application/json"),
)


class Checks:
    """The checks of every request: the contract, then the full spec when loaded.

    Each document's request body schemas and query parameters are found once, for the
    CHECKED_OPERATIONS; both documents close CLOSED_SCHEMAS.  body() and query() give
    the reasons of both, the contract's first, each reason once; on_gap(text) hears of a
    request only the full spec refuses (a fact the contract misses)."""

    def __init__(self, contract, spec=None, on_gap=None):
        self.on_gap = on_gap
        self.layers = []  # (name, validator, {(path, method): (body schema, params)})
        closed = None
        for name, document in (("contract", contract), ("full-spec", spec)):
            if document is None:
                continue
            try:
                self.layers.append(self._layer(name, document, closed))
            except (openapi_validate.SchemaError, KeyError, TypeError, AttributeError) as exc:
                raise openapi_validate.SchemaError(
                    "cannot use the %s: %s: %s" % (name.replace("-", " "), type(exc).__name__,
                                                   exc)) from None
            closed = self.layers[0][1].closed

    @staticmethod
    def _layer(name, document, closed):
        validator = openapi_validate.SchemaValidator(document, closed=closed or ())
        if closed is None and validator.closed != frozenset(CLOSED_SCHEMAS):
            raise openapi_validate.SchemaError("it closes %s, pinsim expects %s"
                                               % (sorted(validator.closed),
                                                  sorted(CLOSED_SCHEMAS)))
        operations = {}
        for path, method, media_type in CHECKED_OPERATIONS:
            body = openapi_validate.request_body_schema(document, path, method, media_type) \
                if media_type else None
            if body is not None:
                validator.validate(None, body)  # compile now: a bad schema fails at start
            operations[(path, method)] = (
                body, openapi_validate.parameter_schemas(document, path, method))
        return name, validator, operations

    @property
    def full_spec(self):
        return len(self.layers) > 1

    def body(self, path, method, value):
        """Reasons why the request body value breaks the documents (empty: none)."""
        return self._merge(path, method, self.body_layers(path, method, value))

    def query(self, path, method, query):
        """Reasons why the query parameters ({name: text}) break the documents; a
        parameter neither document declares is ignored, as Pinterest ignores it."""
        return self._merge(path, method, self.query_layers(path, method, query))

    def body_layers(self, path, method, value):
        """The reasons of body(), one list per document, the contract's first."""
        return [validator.validate(value, operations[(path, method)][0])
                for _, validator, operations in self.layers]

    def query_layers(self, path, method, query):
        """The reasons of query(), one list per document, the contract's first."""
        per_layer = []
        for _, validator, operations in self.layers:
            reasons = []
            for name, (schema, required) in operations[(path, method)][1].items():
                if name in query:
                    reasons += self._parameter(validator, name, query[name], schema)
                elif required:
                    reasons.append("Parameter '%s' is required" % name)
            per_layer.append(reasons)
        return per_layer

    def _merge(self, path, method, per_layer):
        if len(per_layer) > 1 and per_layer[1] and not per_layer[0] and self.on_gap:
            self.on_gap("contract gap: %s %s accepted by the contract, refused by the full "
                        "spec: %s" % (method, path, "; ".join(per_layer[1])))
        found = []
        for reasons in per_layer:
            found.extend(r for r in reasons if r not in found)
        return found

    @staticmethod
    def _parameter(validator, name, text, schema):
        value = text
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?[0-9]+", text):
                return ["Parameter '%s' was not numeric (was %s)" % (name, text)]
            value = int(text)
        return ["Parameter '%s'%s (was %s)" % (name, reason[1:], text)
                for reason in validator.validate(value, schema)]


class Simulator:
    """All state, guarded by one lock; request handling independent of HTTP."""

    def __init__(self, options, contract, spec=None, log=None, checked=None):
        """contract: the parsed contract.json, always checked; spec: the parsed full
        openapi.json, also checked when given; log(text): where to report a request
        that only the full spec refuses (a gap in the contract), default stderr;
        checked: what GET /_sim/checks says about the documents."""
        self.options = options
        self.checked = checked or ("contract and full spec" if spec is not None
                                   else "contract only")
        self.checks = Checks(contract, spec, on_gap=log or (
            lambda text: sys.stderr.write("pinsim: %s\n" % text)))
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.reset()

    # -- state --------------------------------------------------------------------------

    def reset(self):
        with self.lock:
            now = time.time()
            self.catalogs = {}
            self.feed_counter = itertools.count(1)
            self._add_catalog(self.options.catalog_id, "pinsim catalog")
            self.batches = {}
            self.requests = []
            self.token_counter = itertools.count(1)
            self.access_tokens = {self.options.access_token: now + self.options.access_ttl}
            self.latest_access = self.options.access_token
            self.refresh_token = self.options.refresh_token
            self.refresh_expires = now + self.options.refresh_ttl
            self.knobs = {
                "processing_polls": self.options.processing_polls,
                "fail_items": {},
                "fail_next": [],
                "delay_ms": 0,
                "rate_limit": None,
                "lose_batches": 0,
                "fail_batches": 0,
                "skip_batches": 0,
                "background": False,
                "delete_missing": "success",
                "failed_without_records": 0,
                "omit_items": [],
                "processing_items": [],
                "item_status": {},
                "refuse_items": [],
                "max_body_bytes": None,
                "readback_garbage": 0,
                "readback_errors": [],
            }
            self.window_start = time.monotonic()
            self.window_count = 0

    def _add_catalog(self, catalog_id, name, feed_source=False):
        stamp = utc_stamp()
        self.catalogs[catalog_id] = {"id": catalog_id, "name": name, "catalog_type": "RETAIL",
                                     "created_at": stamp, "updated_at": stamp, "items": {},
                                     "feed": None}
        self._set_feed_source(self.catalogs[catalog_id], feed_source)

    def _set_feed_source(self, catalog, on):
        """Give catalog a feed data source (a new feed) or take it away (caller holds
        the lock).  A catalog that has one keeps its feed."""
        if not on:
            catalog["feed"] = None
        elif catalog["feed"] is None:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            catalog["feed"] = {"id": str(2680059592700 + next(self.feed_counter)),
                               "created_at": stamp, "updated_at": stamp}

    @staticmethod
    def _catalog_view(catalog):
        """A catalog as the control API shows it."""
        return {"id": catalog["id"], "name": catalog["name"],
                "feed_source": catalog["feed"] is not None}

    # -- entry point --------------------------------------------------------------------

    ROUTES = (
        # (path test, allowed methods, handler name)
        (lambda p: p == "/v5/oauth/token", ("POST",), "oauth_token"),
        (lambda p: p == "/v5/catalogs", ("GET",), "list_catalogs"),
        (lambda p: p == "/v5/catalogs/feeds", ("GET",), "list_feeds"),
        (lambda p: p == "/v5/catalogs/items", ("POST",), "read_items"),
        (lambda p: p == "/v5/catalogs/items/batch", ("POST",), "post_batch"),
        (lambda p: p.startswith("/v5/catalogs/items/batch/") and p.count("/") == 5,
         ("GET",), "get_batch"),
    )

    def handle_api(self, req):
        """Answer one /v5 request: returns (status, body, headers, drop_connection)."""
        seq = next(self.seq)
        arrival = time.time()
        drop = False
        with self.lock:
            headers, limited = self._count_request()
        try:
            handler = self._route(req)
            with self.lock:
                fault = self._take_fault(req)
            if fault is not None and not fault.get("after"):
                status, body, drop = self._fault_answer(fault, headers)
            elif limited:
                raise ApiError(*ERR_RATE, headers={"x-ratelimit-remaining": "0"})
            else:
                status, body = handler(req)
                if fault is not None:
                    status, body, drop = self._fault_answer(fault, headers)
        except ApiError as err:
            status, body = err.status, {"code": err.code, "message": err.message}
            headers.update(err.headers)
        delay = self.knobs["delay_ms"]
        if delay:
            time.sleep(delay / 1000.0)
        with self.lock:
            self.requests.append({
                "seq": seq, "t": arrival, "method": req.method, "path": req.path, "query": req.query,
                "headers": req.headers, "body": req.logged_body(),
                "status": 0 if drop else status})
        return status, body, headers, drop

    def _route(self, req):
        for test, methods, name in self.ROUTES:
            if test(req.path):
                if req.method not in methods:
                    raise ApiError(405, 5, "Method not allowed",
                                   headers={"allow": ", ".join(methods)})
                return getattr(self, name)
        raise ApiError(404, 404, "Not found")

    def _count_request(self):
        """Count one request in the rate window: (headers, over the enforced limit)."""
        rate = self.knobs["rate_limit"] or DEFAULT_RATE
        now = time.monotonic()
        if now - self.window_start >= rate["window_s"]:
            self.window_start, self.window_count = now, 0
        self.window_count += 1
        reset = max(1, math.ceil(self.window_start + rate["window_s"] - now))
        headers = {
            "x-ratelimit-limit": "%d, %d;w=%s" % (rate["limit"], rate["limit"], rate["window_s"]),
            "x-ratelimit-remaining": str(max(0, rate["limit"] - self.window_count)),
            "x-ratelimit-reset": str(reset),
        }
        limited = self.knobs["rate_limit"] is not None and self.window_count > rate["limit"]
        return headers, limited

    def _take_fault(self, req):
        for rule in self.knobs["fail_next"]:
            if rule["count"] > 0 and req.path.startswith(rule["path_prefix"]) \
                    and rule.get("method", req.method) == req.method:
                rule["count"] -= 1
                return dict(rule)
        return None

    @staticmethod
    def _fault_answer(fault, headers):
        status = fault["status"]
        if status == 0:
            return 0, None, True
        if status == 429:
            headers["x-ratelimit-remaining"] = "0"
            if fault.get("retry_after") is not None:
                headers["retry-after"] = str(fault["retry_after"])
                headers["x-ratelimit-reset"] = str(fault["retry_after"])
            return 429, {"code": ERR_RATE[1], "message": ERR_RATE[2]}, False
        return status, {"code": ERR_INTERNAL[0], "message": ERR_INTERNAL[1]}, False

    # -- auth ---------------------------------------------------------------------------

    def _require_bearer(self, req):
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        token = token.strip()
        with self.lock:
            expires = self.access_tokens.get(token)
        if scheme.lower() != "bearer" or expires is None or expires <= time.time():
            raise ApiError(*ERR_AUTH)

    def oauth_token(self, req):
        scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
        try:
            client = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            client = None
        expected = "%s:%s" % (self.options.client_id, self.options.client_secret)
        if scheme.lower() != "basic" or client is None \
                or not secrets.compare_digest(client, expected):
            raise ApiError(*ERR_AUTH)
        content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise ApiError(400, 1, "Invalid request: the body must be "
                                   "application/x-www-form-urlencoded")
        try:
            form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8"),
                                               keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, 1, "Invalid request: malformed form body") from None
        self._refuse_problems(self.checks.body("/oauth/token", "POST", form))
        if form["grant_type"] != "refresh_token":
            raise ApiError(400, 1, "Invalid request: grant_type %r is not simulated"
                           % form["grant_type"])
        if not form.get("refresh_token"):
            raise ApiError(400, 1, "$: missing required property 'refresh_token'")
        with self.lock:
            now = time.time()
            if not secrets.compare_digest(form["refresh_token"], self.refresh_token) \
                    or self.refresh_expires <= now:
                raise ApiError(*ERR_REFRESH)
            serial = next(self.token_counter)
            access = "sim-access-%d-%s" % (serial, secrets.token_hex(4))
            self.access_tokens[access] = now + self.options.access_ttl
            self.latest_access = access
            self.refresh_token = "sim-refresh-%d-%s" % (serial, secrets.token_hex(4))
            self.refresh_expires = now + self.options.refresh_ttl
            return 200, {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.options.access_ttl,
                "scope": form.get("scope") or SCOPE,
                "refresh_token": self.refresh_token,
                "refresh_token_expires_in": self.options.refresh_ttl,
                "refresh_token_expires_at": int(self.refresh_expires),
                "response_type": "refresh_token",
            }

    # -- catalogs -----------------------------------------------------------------------

    def _query(self, req, path):
        """The query parameters of a request to path (as the documents spell it), checked:
        {name: text}, or 400 code 1."""
        query = dict(urllib.parse.parse_qsl(req.query, keep_blank_values=True))
        self._refuse_problems(self.checks.query(path, req.method, query))
        return query

    @staticmethod
    def _refuse_problems(problems):
        """400 code 1 naming every reason, when there are any."""
        if problems:
            raise ApiError(400, 1, "; ".join(problems))

    @staticmethod
    def _page_window(query):
        """The page a list request asks for, from its page_size and bookmark parameters
        (the contract's query_page_size and query_bookmark, already checked):
        (start, size), or 400 code 1 for a bookmark pinsim did not give."""
        size = query.get("page_size", "25")
        try:
            start = int(base64.urlsafe_b64decode(query["bookmark"]).decode("ascii")) \
                if "bookmark" in query else 0
        except (ValueError, binascii.Error):
            raise ApiError(400, 1, "Invalid bookmark") from None
        return start, int(size)

    @staticmethod
    def _page(entries, start, size):
        """One page of entries in the spec's Paginated shape, with an opaque bookmark."""
        bookmark = base64.urlsafe_b64encode(str(start + size).encode()).decode() \
            if start + size < len(entries) else None
        return {"items": entries[start:start + size], "bookmark": bookmark}

    def list_catalogs(self, req):
        self._require_bearer(req)
        start, size = self._page_window(self._query(req, "/catalogs"))
        with self.lock:
            entries = [{k: c[k] for k in ("id", "name", "catalog_type", "created_at",
                                          "updated_at")} for c in self.catalogs.values()]
        return 200, self._page(entries, start, size)

    def list_feeds(self, req):
        """GET /v5/catalogs/feeds: one CatalogsRetailFeed per catalog with a feed source."""
        self._require_bearer(req)
        query = self._query(req, "/catalogs/feeds")
        start, size = self._page_window(query)
        with self.lock:
            entries = [self._feed_view(c) for c in self.catalogs.values()
                       if c["feed"] is not None
                       and query.get("catalog_id", c["id"]) == c["id"]]
        return 200, self._page(entries, start, size)

    @staticmethod
    def _feed_view(catalog):
        """A catalog's feed as the spec's CatalogsRetailFeed (every required field)."""
        feed = catalog["feed"]
        return {"id": feed["id"], "created_at": feed["created_at"],
                "updated_at": feed["updated_at"], "catalog_type": "RETAIL",
                "name": "%s feed" % (catalog["name"] or "catalog %s" % catalog["id"]),
                "format": "XML", "status": "ACTIVE",
                "location": "https://feeds.shop.example/catalog-%s.xml" % catalog["id"],
                "credentials": None, "default_availability": None, "default_country": "US",
                "default_currency": "USD", "default_locale": "en-US",
                "preferred_processing_schedule": {"time": "02:59", "timezone": "Etc/UTC"}}

    def _catalog_for(self, catalog_id):
        """The catalog a request names, or the oldest one (all are RETAIL) when it names none."""
        if catalog_id is None:
            return next(iter(self.catalogs.values()))
        catalog = self.catalogs.get(catalog_id)
        if catalog is None:
            raise ApiError(*ERR_NO_CATALOG)
        return catalog

    def read_items(self, req):
        self._require_bearer(req)
        self._query(req, "/catalogs/items")
        body = req.json_body()
        # The contract describes RETAIL filters only: other catalog types are refused.
        self._refuse_problems(self.checks.body("/catalogs/items", "POST", body))
        filters = body["filters"]
        answer = []
        with self.lock:
            catalog = self._catalog_for(filters.get("catalog_id"))
            self._background(catalog["id"])
            if self.knobs["readback_garbage"] > 0:
                self.knobs["readback_garbage"] -= 1
                return 200, RawBody(GARBAGE_BODY)
            for item_id in filters["item_ids"]:
                stored = catalog["items"].get(item_id)
                if item_id in self.knobs["readback_errors"]:
                    answer.append({"catalog_type": "RETAIL", "item_id": item_id, "errors": [
                        item_error(None, ITEM_READ_FAILED, "Internal error reading the item.")]})
                    continue
                if stored is None or stored["country"] != body["country"] \
                        or stored["language"] != body["language"]:
                    answer.append({"catalog_type": "RETAIL", "item_id": item_id, "errors": [
                        item_error("item_id", ITEM_NOT_FOUND, "Item not found.")]})
                    continue
                attributes = copy.deepcopy(stored["attributes"])
                if isinstance(attributes.get("image_link"), str):
                    attributes["image_link"] = [attributes["image_link"]]
                answer.append({"catalog_type": "RETAIL", "item_id": item_id,
                               "attributes": attributes})
        return 200, {"items": answer}

    # -- batches ------------------------------------------------------------------------

    def post_batch(self, req):
        with self.lock:
            limit = self.knobs["max_body_bytes"]
        if limit is not None and len(req.body) > limit:
            # A front end's refusal: before authentication, after the body was read.
            raise ApiError(413, 1, "Request entity too large: %d bytes, limit %d"
                           % (len(req.body), limit))
        self._require_bearer(req)
        self._query(req, "/catalogs/items/batch")
        body = req.json_body()
        if isinstance(body, dict) and "operation" in body and "catalog_type" not in body:
            raise ApiError(400, 1, "Invalid request: pinsim only simulates the per-item "
                                   "operation form (CatalogsVerticalBatchRequest), not the "
                                   "legacy single-operation form (CatalogsItemsBatchRequest)")
        # The contract describes RETAIL batches only: other catalog types are refused.
        self._refuse_problems(self.checks.body("/catalogs/items/batch", "POST", body))
        with self.lock:
            refused = self.knobs["refuse_items"]
            problems = ["$.items[%d]: item '%s' is not valid against the schema"
                        % (index, item["item_id"])
                        for index, item in enumerate(body["items"] if refused else ())
                        if item["item_id"] in refused]
            if problems:
                raise ApiError(400, 1, "Invalid request: " + "; ".join(problems))
            catalog = self._catalog_for(body.get("catalog_id"))
            batch_id = "%018d-%s" % (random.randrange(10 ** 17, 10 ** 18), secrets.token_hex(16))
            fail = None
            if self.knobs["fail_batches"] > 0:
                self.knobs["fail_batches"] -= 1
                fail = "records"
            elif self.knobs["failed_without_records"] > 0:
                self.knobs["failed_without_records"] -= 1
                fail = "bare"
            batch = Batch(batch_id, catalog["id"], copy.deepcopy(body),
                          self.knobs["processing_polls"], fail)
            if self.knobs["skip_batches"] > 0:
                # What Pinterest answers for a recent duplicate: no creation.
                self.knobs["skip_batches"] -= 1
                batch.created_time = None
                batch.status = "COMPLETED"
                batch.completed_time = utc_stamp()
                batch.results = []
            self.batches[batch_id] = batch
            answer = batch.view()
            answer["items"] = []
            return 200, answer

    def get_batch(self, req):
        self._require_bearer(req)
        self._query(req, "/catalogs/items/batch/{batch_id}")
        batch_id = urllib.parse.unquote(req.path.rsplit("/", 1)[1])
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                raise ApiError(*ERR_NO_BATCH)
            if self.knobs["lose_batches"] > 0:
                self.knobs["lose_batches"] -= 1
                del self.batches[batch_id]
                raise ApiError(*ERR_NO_BATCH)
            if batch.status == "PROCESSING":
                if batch.polls_left > 0:
                    batch.polls_left -= 1
                else:
                    self._complete(batch)
            return 200, batch.view()

    def _background(self, catalog_id):
        """With the background knob, Pinterest has finished every batch posted
        to catalog_id by the time anyone looks (caller holds the lock)."""
        if not self.knobs["background"]:
            return
        for batch in self.batches.values():
            if batch.catalog_id == catalog_id and batch.status == "PROCESSING":
                self._complete(batch)

    def _complete(self, batch):
        if batch.fail == "bare":
            batch.status = "FAILED"
            batch.results = []
        elif batch.fail:
            batch.status = "FAILED"
            batch.results = [{"item_id": item["item_id"], "status": "FAILURE", "errors": [
                item_error(None, BATCH_FAILED_CODE, "The batch could not be processed.")],
                "warnings": []} for item in batch.items]
        else:
            catalog = self.catalogs[batch.catalog_id]
            verdicts = self._take_verdicts(batch)
            batch.results = []
            for item in batch.items:
                verdict = verdicts.get(item["item_id"])
                if verdict is None:
                    batch.results.append(self._apply(catalog, batch, item))
                elif verdict is not OMIT:  # an item left without a verdict: not applied
                    batch.results.append({"item_id": item["item_id"], "status": verdict,
                                          "errors": [], "warnings": []})
            batch.status = "COMPLETED"
            if any(r["status"] == "SUCCESS" for r in batch.results):
                catalog["updated_at"] = utc_stamp()
        batch.completed_time = utc_stamp()

    def _take_verdicts(self, batch):
        """Use up the omit_items, processing_items and item_status entries of the items
        of batch (caller holds the lock): {item_id: OMIT or the status to report}.  An
        id in several knobs uses the first of them only; the others stay for later."""
        verdicts = {}
        for item_id in dict.fromkeys(item["item_id"] for item in batch.items):
            if item_id in self.knobs["omit_items"]:
                self.knobs["omit_items"].remove(item_id)
                verdicts[item_id] = OMIT
            elif item_id in self.knobs["processing_items"]:
                self.knobs["processing_items"].remove(item_id)
                verdicts[item_id] = "PROCESSING"
            elif item_id in self.knobs["item_status"]:
                verdicts[item_id] = self.knobs["item_status"].pop(item_id)
        return verdicts

    def _apply(self, catalog, batch, item):
        """Apply one item operation; return its ItemProcessingRecord."""
        item_id, operation = item["item_id"], item["operation"]
        errors, warnings = [], []
        forced = self.knobs["fail_items"].get(item_id)
        stored = catalog["items"].get(item_id)
        if forced is not None:
            errors.append(dict(forced))
        elif operation == "UPSERT" and catalog["feed"] is not None:
            # The batch operation's description: UPSERT is for catalogs without a feed.
            errors.append(item_error(None, ITEM_UPSERT_FEED_SOURCE, UPSERT_FEED_SOURCE_MESSAGE))
        elif operation in ("CREATE", "UPSERT"):
            attributes = {k: v for k, v in item["attributes"].items() if v is not None}
            if operation == "CREATE" and stored is not None:
                errors.append(item_error("item_id", ITEM_ALREADY_EXISTS,
                                         "Item already exists; use UPDATE or UPSERT."))
            else:
                errors.extend(item_error(name, ITEM_MISSING_ATTRIBUTE,
                                         "Required field %s is missing or empty." % name)
                              for name in REQUIRED_ATTRIBUTES if is_empty(attributes.get(name)))
            if not errors:
                catalog["items"][item_id] = {"country": batch.country,
                                             "language": batch.language,
                                             "attributes": attributes}
        elif operation == "UPDATE":
            if stored is None:
                errors.append(item_error("item_id", ITEM_NOT_FOUND, "Item not found."))
            else:
                attributes = stored["attributes"]
                for name, value in item["attributes"].items():
                    if value is None:
                        attributes.pop(name, None)
                    else:
                        attributes[name] = value
                for name in item.get("update_mask") or ():
                    if name not in item["attributes"]:
                        attributes.pop(name, None)
                stored["country"], stored["language"] = batch.country, batch.language
        else:  # DELETE
            if stored is not None:
                del catalog["items"][item_id]
            else:
                event = item_error("item_id", ITEM_DELETE_ABSENT,
                                   "Item does not exist; nothing to delete.")
                (errors if self.knobs["delete_missing"] == "failure" else warnings).append(event)
        return {"item_id": item_id, "status": "FAILURE" if errors else "SUCCESS",
                "errors": errors, "warnings": warnings}

    # -- control API --------------------------------------------------------------------

    def handle_control(self, req):
        """Answer one /_sim/ request: returns (status, body)."""
        query = dict(urllib.parse.parse_qsl(req.query))
        route = (req.method, req.path)
        try:
            if route == ("GET", "/_sim/requests"):
                with self.lock:
                    return 200, sorted(self.requests, key=lambda r: r["seq"])
            if route == ("POST", "/_sim/requests/clear"):
                with self.lock:
                    self.requests.clear()
                return 200, {"cleared": True}
            if route == ("GET", "/_sim/catalog"):
                with self.lock:
                    catalog = self.catalogs.get(query.get("catalog_id", self.options.catalog_id))
                    if catalog is None:
                        return 404, {"error": "unknown catalog"}
                    self._background(catalog["id"])
                    return 200, {"items": copy.deepcopy(catalog["items"])}
            if route == ("POST", "/_sim/catalog/reset"):
                with self.lock:
                    for catalog_id, catalog in self.catalogs.items():
                        if query.get("catalog_id", catalog_id) == catalog_id:
                            catalog["items"].clear()
                return 200, {"reset": True}
            if route == ("POST", "/_sim/catalog/items"):
                return self._control_edit_items(query.get("catalog_id", self.options.catalog_id),
                                                req.json_body_for_control())
            if route == ("POST", "/_sim/catalogs"):
                return self._control_add_catalog(req.json_body_for_control())
            if route == ("GET", "/_sim/catalogs"):
                with self.lock:
                    return 200, [self._catalog_view(c) for c in self.catalogs.values()]
            if route == ("POST", "/_sim/catalogs/feed_source"):
                return self._control_feed_source(req.json_body_for_control())
            if route == ("POST", "/_sim/batches/finish"):
                # Pinterest finishes a batch now: its next poll completes it.
                body = req.json_body_for_control()
                with self.lock:
                    batch = self.batches.get(body.get("batch_id") if isinstance(body, dict)
                                             else None)
                    if batch is None:
                        return 404, {"error": "unknown batch"}
                    batch.polls_left = 0
                    return 200, {"finished": batch.batch_id}
            if route == ("GET", "/_sim/batches"):
                with self.lock:
                    return 200, [{"batch_id": b.batch_id, "catalog_id": b.catalog_id,
                                  "status": b.status, "created_time": b.created_time,
                                  "item_count": len(b.items), "polls_left": b.polls_left}
                                 for b in self.batches.values()]
            if route == ("GET", "/_sim/tokens"):
                with self.lock:
                    now = time.time()
                    return 200, {
                        "access_token": self.latest_access,
                        "access_token_expires_at": int(self.access_tokens[self.latest_access]),
                        "refresh_token": self.refresh_token,
                        "refresh_token_expires_at": int(self.refresh_expires),
                        "valid_access_tokens": sorted(
                            t for t, exp in self.access_tokens.items() if exp > now),
                    }
            if route == ("GET", "/_sim/checks"):
                return 200, {"layers": [name for name, _, _ in self.checks.layers],
                             "contract": self.options.contract,
                             "spec": self.options.spec if self.checks.full_spec else None,
                             "summary": self.checked}
            if route == ("GET", "/_sim/config"):
                with self.lock:
                    return 200, copy.deepcopy(self.knobs)
            if route == ("POST", "/_sim/config"):
                return self._control_config(req.json_body_for_control())
            if route == ("POST", "/_sim/reset"):
                self.reset()
                return 200, {"reset": True}
        except ControlError as err:
            return 400, {"error": str(err)}
        return 404, {"error": "no control endpoint %s %s" % route}

    def _control_add_catalog(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) \
                or not body["id"].isdigit() \
                or not isinstance(body.get("feed_source", False), bool):
            raise ControlError('expected {"id": "<digits>", "name": "...", '
                               '"feed_source": true|false}')
        with self.lock:
            if body["id"] in self.catalogs:
                return 409, {"error": "catalog %s exists" % body["id"]}
            self._add_catalog(body["id"], body.get("name"), body.get("feed_source", False))
            catalog = self.catalogs[body["id"]]
            answer = {k: v for k, v in catalog.items() if k not in ("items", "feed")}
            answer["feed_source"] = catalog["feed"] is not None
            return 200, answer

    def _control_feed_source(self, body):
        if not isinstance(body, dict) or set(body) != {"catalog_id", "feed_source"} \
                or not isinstance(body["catalog_id"], str) or not body["catalog_id"].isdigit() \
                or not isinstance(body["feed_source"], bool):
            raise ControlError('expected {"catalog_id": "<digits>", "feed_source": true|false}')
        with self.lock:
            catalog = self.catalogs.get(body["catalog_id"])
            if catalog is None:
                return 404, {"error": "unknown catalog %s" % body["catalog_id"]}
            self._set_feed_source(catalog, body["feed_source"])
            return 200, self._catalog_view(catalog)

    def _control_edit_items(self, catalog_id, body):
        """Items changed outside pinsync: delete, then put, then set, all or nothing."""
        if body is None:
            body = {}
        if not isinstance(body, dict) or set(body) - {"delete", "set", "put"}:
            raise ControlError('expected {"delete": [...], "set": {...}, "put": {...}}')
        delete, changes, puts = body.get("delete", []), body.get("set", {}), body.get("put", {})
        if not isinstance(delete, list) or not all(isinstance(i, str) for i in delete):
            raise ControlError("delete: expected a list of item ids")
        if not isinstance(changes, dict) \
                or not all(isinstance(a, dict) for a in changes.values()):
            raise ControlError("set: expected {item_id: {attribute: value or null}}")
        put_shape = ControlError('put: expected {item_id: {"attributes": {...}, '
                                 '"country": "US", "language": "en-US"}}')
        if not isinstance(puts, dict):
            raise put_shape
        stored_puts = {}
        for item_id, item in puts.items():
            if not isinstance(item, dict) or set(item) - {"attributes", "country", "language"} \
                    or not isinstance(item.get("attributes"), dict) \
                    or not isinstance(item.get("country", ""), str) \
                    or not isinstance(item.get("language", ""), str):
                raise put_shape
            stored_puts[item_id] = {
                "country": item.get("country", "US"), "language": item.get("language", "en-US"),
                "attributes": {k: v for k, v in item["attributes"].items() if v is not None}}
        with self.lock:
            catalog = self.catalogs.get(catalog_id)
            if catalog is None:
                return 404, {"error": "unknown catalog"}
            self._background(catalog_id)
            items = copy.deepcopy(catalog["items"])
            deleted = sum(items.pop(item_id, None) is not None for item_id in delete)
            items.update(copy.deepcopy(stored_puts))
            for item_id, attributes in changes.items():
                if item_id not in items:
                    return 404, {"error": "set: no item %s" % item_id, "item_id": item_id}
                for name, value in attributes.items():
                    if value is None:
                        items[item_id]["attributes"].pop(name, None)
                    else:
                        items[item_id]["attributes"][name] = copy.deepcopy(value)
            catalog["items"] = items
            if deleted or stored_puts or changes:
                catalog["updated_at"] = utc_stamp()
            return 200, {"deleted": deleted, "set": len(changes), "put": len(stored_puts)}

    def _control_config(self, body):
        if not isinstance(body, dict):
            raise ControlError("expected a JSON object")
        updates = {}
        for key, value in body.items():
            parse = KNOB_PARSERS.get(key)
            if parse is None:
                raise ControlError("unknown config key %r" % key)
            updates[key] = parse(value)
        with self.lock:
            if updates.pop("expire_access_token", False):
                now = time.time()
                for token in self.access_tokens:
                    self.access_tokens[token] = min(self.access_tokens[token], now)
            self.knobs.update(updates)
            return 200, copy.deepcopy(self.knobs)


# Parsers of the /_sim/config knobs: each returns the value to store or raises
# ControlError.
def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _knob_count(value):
    if not _is_count(value):
        raise ControlError("expected an integer >= 0, got %r" % (value,))
    return value


def _knob_bool(value):
    if not isinstance(value, bool):
        raise ControlError("expected true or false, got %r" % (value,))
    return value


def _knob_fail_items(value):
    if not isinstance(value, dict):
        raise ControlError("fail_items: expected {item_id: {attribute, code, message}}")
    for item_id, event in value.items():
        if not isinstance(event, dict) or set(event) - {"attribute", "code", "message"} \
                or not isinstance(event.get("code"), int) \
                or not isinstance(event.get("message"), str):
            raise ControlError("fail_items[%r]: expected {attribute, code, message}" % item_id)
    return copy.deepcopy(value)


def _knob_fail_next(value):
    if not isinstance(value, list):
        raise ControlError("fail_next: expected a list of rules")
    rules = []
    for rule in value:
        if not isinstance(rule, dict) \
                or set(rule) - {"path_prefix", "method", "status", "count",
                                "retry_after", "after"} \
                or not isinstance(rule.get("path_prefix"), str) \
                or not _is_count(rule.get("count")) \
                or rule.get("status") not in (0, 429, *range(500, 600)) \
                or not isinstance(rule.get("method", ""), str) \
                or not (rule.get("retry_after") is None
                        or _is_count(rule["retry_after"])) \
                or not isinstance(rule.get("after", False), bool):
            raise ControlError("fail_next: bad rule %r" % (rule,))
        rule = dict(rule)
        if "method" in rule:
            rule["method"] = rule["method"].upper()
        rules.append(rule)
    return rules


def _knob_rate_limit(value):
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"limit", "window_s"} \
            or not all(isinstance(value[k], int) and value[k] > 0 for k in value):
        raise ControlError('rate_limit: expected {"limit": N, "window_s": W} or null')
    return dict(value)


def _knob_expire(value):
    if not isinstance(value, bool):
        raise ControlError("expire_access_token: expected true or false")
    return value


def _knob_delete_missing(value):
    if value not in ("success", "failure"):
        raise ControlError('delete_missing: expected "success" or "failure"')
    return value


def _knob_item_ids(value):
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise ControlError("expected a list of item ids (strings), got %r" % (value,))
    return list(dict.fromkeys(value))


def _knob_item_status(value):
    if not isinstance(value, dict) or not all(isinstance(s, str) for s in value.values()):
        raise ControlError('item_status: expected {item_id: "STATUS"}')
    return dict(value)


def _knob_max_body_bytes(value):
    if value is not None and not _is_count(value):
        raise ControlError("max_body_bytes: expected an integer >= 0 or null, got %r"
                           % (value,))
    return value


KNOB_PARSERS = {
    "processing_polls": _knob_count,
    "fail_items": _knob_fail_items,
    "fail_next": _knob_fail_next,
    "delay_ms": _knob_count,
    "expire_access_token": _knob_expire,
    "rate_limit": _knob_rate_limit,
    "lose_batches": _knob_count,
    "fail_batches": _knob_count,
    "skip_batches": _knob_count,
    "background": _knob_bool,
    "delete_missing": _knob_delete_missing,
    "failed_without_records": _knob_count,
    "omit_items": _knob_item_ids,
    "processing_items": _knob_item_ids,
    "item_status": _knob_item_status,
    "refuse_items": _knob_item_ids,
    "max_body_bytes": _knob_max_body_bytes,
    "readback_garbage": _knob_count,
    "readback_errors": _knob_item_ids,
}


class Request:
    """A parsed HTTP request, independent of the server classes."""

    def __init__(self, method, target, headers, body):
        parts = urllib.parse.urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = parts.query
        self.headers = headers
        self.body = body

    def json_body(self):
        """The body as JSON for an API handler, or ApiError 400 code 1."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, 1, "Invalid request: body is not JSON (%s)" % exc) from None

    def json_body_for_control(self):
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, ValueError) as exc:
            raise ControlError("body is not JSON (%s)" % exc) from None

    def logged_body(self):
        if not self.body:
            return None
        text = self.body.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text


class BodyError(Exception):
    """A request body that cannot be read (bad framing, too big)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

    def version_string(self):
        return "pinsim"

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BodyError("bad chunk size line") from None
                total += size
                if total > MAX_BODY:
                    raise BodyError("body too large")
                if size == 0:
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit() or int(length) > MAX_BODY:
            raise BodyError("bad Content-Length")
        return self.rfile.read(int(length))

    def _dispatch(self):
        try:
            body = self._read_body()
        except BodyError as exc:
            self.close_connection = True
            self._send(400, {"code": 1, "message": "Invalid request: %s" % exc}, {})
            return
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        req = Request(self.command, self.path, headers, body)
        sim = self.server.sim
        if req.path.startswith("/_sim/"):
            status, answer = sim.handle_control(req)
            self._send(status, answer, {})
            return
        status, answer, extra, drop = sim.handle_api(req)
        if drop:
            self.server.log_line("%s %s dropped" % (req.method, req.path))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        extra["x-pinterest-rid"] = secrets.token_hex(8)
        self._send(status, answer, extra)

    def _send(self, status, answer, extra):
        payload = answer if isinstance(answer, RawBody) else json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_request(self, code="-", size="-"):
        path = urllib.parse.urlsplit(getattr(self, "path", "")).path or "-"
        self.server.log_line("%s %s %s" % (self.command or "-", path, code))

    def log_message(self, format, *args):
        # Only http.server's own complaints (bad request line, timeout) get here.  Their
        # arguments can echo raw request text, so only a status code is printed.
        code = next((a for a in args if isinstance(a, int)), None)
        self.server.log_line("http error %s" % code if code else "http error")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, sim, log_stream):
        super().__init__(("127.0.0.1", port), Handler)
        self.sim = sim
        self._log_stream = log_stream
        self._log_lock = threading.Lock()

    def log_line(self, text):
        with self._log_lock:
            self._log_stream.write("pinsim: %s\n" % text)
            self._log_stream.flush()


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Pinterest API v5 simulator for pinsync tests.")
    parser.add_argument("--port", type=int, default=0, help="TCP port, 0 for any free one")
    parser.add_argument("--ready-file", help="write the port here once listening")
    parser.add_argument("--contract", default=DEFAULT_CONTRACT,
                        help="the project's contract, always checked (default: %(default)s)")
    parser.add_argument("--spec", default=DEFAULT_SPEC,
                        help="Pinterest's full openapi.json, also checked when the file "
                        "exists (default: %(default)s)")
    parser.add_argument("--no-spec", action="store_true",
                        help="deprecated: do not load the full spec (the contract is "
                        "still checked)")
    parser.add_argument("--client-id", default="pinsim-app")
    parser.add_argument("--client-secret", default="pinsim-secret")
    parser.add_argument("--access-token", default="sim-access-0")
    parser.add_argument("--refresh-token", default="sim-refresh-0")
    parser.add_argument("--access-ttl", type=positive_int, default=2592000)
    parser.add_argument("--refresh-ttl", type=positive_int, default=5184000)
    parser.add_argument("--processing-polls", type=int, default=1)
    parser.add_argument("--catalog-id", default="1001")
    parser.add_argument("--log-file", help="request log lines go here (default: stderr)")
    options = parser.parse_args(argv)
    if options.processing_polls < 0:
        parser.error("--processing-polls must be >= 0")
    if not options.catalog_id.isdigit():
        parser.error("--catalog-id must be digits (the spec's pattern ^\\d+$)")
    return options


def write_ready_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def load_json(path, what):
    """A JSON document, or SchemaError naming what could not be used."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError) as exc:
        raise openapi_validate.SchemaError("cannot use the %s %s: %s" % (what, path, exc)) \
            from None
    if not isinstance(document, dict):
        raise openapi_validate.SchemaError("cannot use the %s %s: not a JSON object"
                                           % (what, path))
    return document


def load_documents(options):
    """(contract, full spec or None, what the start-up line says about them).  A
    contract or full spec that exists but cannot be used raises SchemaError: a broken
    file must not quietly turn into fewer checks."""
    contract = load_json(options.contract, "contract")
    if options.no_spec:
        return contract, None, "contract only: --no-spec given (deprecated)"
    if not os.path.exists(options.spec):
        return contract, None, "contract only: %s not found" % options.spec
    spec = load_json(options.spec, "full spec")
    return contract, spec, "contract and full spec %s %s" % (
        spec.get("info", {}).get("version", "?"), options.spec)


def main(argv=None):
    options = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        contract, spec, checked = load_documents(options)
        sim = Simulator(options, contract, spec, checked=checked)
    except openapi_validate.SchemaError as exc:
        sys.stderr.write("pinsim: %s\n" % exc)
        return 2
    log_stream = open(options.log_file, "a", encoding="utf-8") if options.log_file else sys.stderr
    try:
        server = Server(options.port, sim, log_stream)
    except OSError as exc:
        sys.stderr.write("pinsim: cannot listen on 127.0.0.1:%d: %s\n" % (options.port, exc))
        return 2
    sim.checks.on_gap = server.log_line
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="pinsim", daemon=True)
    thread.start()
    port = server.server_address[1]
    server.log_line("listening on 127.0.0.1:%d (%s)" % (port, checked))
    if options.ready_file:
        write_ready_file(options.ready_file, port)
    while not stop.wait(3600):
        pass
    server.shutdown()
    server.server_close()
    server.log_line("stopped")
    if log_stream is not sys.stderr:
        log_stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
