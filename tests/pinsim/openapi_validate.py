"""Validate JSON values against OpenAPI 3.0 schemas (Python standard library only).

This is the request validator of the Pinterest simulator (pinsim.py), kept as its own
module so that tests can use it directly.

Contract
--------
``SchemaValidator(document, closed=())`` wraps a whole OpenAPI document (the dict loaded
from openapi.json).  ``validate(instance, schema)`` checks a parsed JSON value against a
schema dict taken from that document (or a ``{"$ref": ...}``) and returns a list of error
strings, empty when the value is valid.  Every error names where it applies as a JSON
path rooted at ``$``, for example::

    $.items[3].attributes.price: expected string, got number

Supported, with OpenAPI 3.0 meaning:

* ``$ref`` to local ``#/...`` pointers (siblings of ``$ref`` are ignored, as in 3.0);
* ``type`` (a single name) with ``nullable``: ``null`` is valid only under
  ``nullable: true`` or when the schema has no ``type``; a schema without ``type``
  accepts any value its other keywords accept;
* ``allOf``; ``anyOf`` (at least one alternative); ``oneOf`` (exactly one); ``not``;
* ``discriminator`` next to ``oneOf``/``anyOf``: the value of the discriminating property
  picks the alternative through ``mapping`` (or, failing that, by component name), and
  only that alternative's errors are reported.  A discriminator without ``oneOf`` or
  ``anyOf`` (the inheritance style) has no effect;
* ``enum``, ``pattern`` (Python ``re.search``, unanchored as in JSON Schema; ``\\d`` and
  ``\\w`` match ASCII only, as in the ECMA-262 regexes JSON Schema names, and so does
  ``\\s`` here),
  ``minLength``/``maxLength``, ``minimum``/``maximum`` with 3.0's boolean
  ``exclusiveMinimum``/``exclusiveMaximum``, ``multipleOf``, ``minItems``/``maxItems``,
  ``uniqueItems``, ``items``, ``required``, ``properties``, ``additionalProperties``
  (``false`` or a schema), ``minProperties``/``maxProperties``.

Ignored: ``format``, ``readOnly``/``writeOnly``, ``default``, ``example``, ``deprecated``
and other annotations.  ``integer`` means a JSON number without a fraction as parsed by
Python's json module (an ``int``, never a ``bool``); ``1.0`` is a number, not an integer.

When no alternative of a ``oneOf``/``anyOf`` without discriminator matches, the reported
errors come from the alternative that failed least: the one without an unmet
discriminator at the value itself, then with the fewest errors at the value itself, then
with the fewest errors overall, then the first listed.  When every alternative fails
with exactly one error at the value itself (``expected string`` vs ``expected array``),
those reasons are joined into one message instead (or given once, when they are equal).

``closed`` names component schemas (``#/components/schemas/<name>``) to be treated as if
they had ``additionalProperties: false`` over the union of the properties they declare,
directly or through ``allOf``.  The closure applies where such a schema is reached
through a ``$ref`` other than as an ``allOf`` member, so a closed schema may still be
composed into a larger one.  A component marked ``"x-closed": true`` in the document is
closed too, without being named (pinsim's contract.json marks its item attribute
objects so); ``validator.closed`` holds the names in effect.  The simulator uses it to
refuse item attribute names that Pinterest's spec does not declare (the spec leaves
those objects open).

``request_body_schema``, ``response_body_schema`` and ``parameter_schemas`` find the
schemas of one operation (``document["paths"][path][method]``); a response status the
operation does not list falls back to its ``default`` response, as in OpenAPI.

Compiled validators are cached per schema object and per ``$ref``, so validating many
values against one schema does the schema walk once: a 1000-item catalog batch checks
in a few tens of milliseconds.  One validator may be shared by threads.
"""

import json
import math
import re
import threading

__all__ = ["SchemaError", "SchemaValidator", "parameter_schemas", "request_body_schema",
           "response_body_schema"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENUM_LIST_MAX = 8  # longer enums are named (when they are a component) instead of listed


class SchemaError(Exception):
    """The schema itself is unusable (bad $ref, bad pattern, unknown type)."""


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_TYPE_TESTS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _key_path(path, key):
    if _IDENT.match(key):
        return path + "." + key
    return path + "[" + json.dumps(key) + "]"


def _same_json(a, b):
    """JSON equality: 1 == 1.0, but True is not 1 and "1" is not 1."""
    ta, tb = _json_type(a), _json_type(b)
    numeric = ("integer", "number")
    if ta in numeric and tb in numeric:
        return a == b
    if ta != tb:
        return False
    if ta == "array":
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if ta == "object":
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return a == b


def _score(errors, path):
    """Sort key of a failed alternative: lower means a closer match."""
    at_root = [e for e in errors if e[0] == path]
    return (any(e[2] for e in at_root), len(at_root), len(errors))


def _closest(failures, path, keyword):
    """Errors to report when no alternative of a oneOf/anyOf matched."""
    if all(len(f) == 1 and f[0][0] == path and not f[0][2] for f in failures):
        reasons = list(dict.fromkeys(f[0][1] for f in failures))
        if len(reasons) == 1:
            return failures[0]
        return [(path, "matches no %s alternative (%s)" % (keyword, "; ".join(reasons)), False)]
    return min(failures, key=lambda f: _score(f, path))


def _resolve(document, ref):
    """The node a local $ref (a JSON pointer "#/...") names in document."""
    if not ref.startswith("#/"):
        raise SchemaError("only local $ref are supported: %r" % ref)
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[part]
        except (KeyError, TypeError):
            raise SchemaError("unresolvable $ref %r" % ref) from None
    return node


class SchemaValidator:
    """Compiles and caches validators for the schemas of one OpenAPI document."""

    def __init__(self, document, closed=()):
        self.document = document
        marked = (name for name, schema in
                  document.get("components", {}).get("schemas", {}).items()
                  if isinstance(schema, dict) and schema.get("x-closed") is True)
        self.closed = frozenset(closed).union(marked)
        self._by_ref = {}  # (ref, closed) -> check function
        self._by_id = {}   # id(schema dict) -> (schema, check function)
        self._lock = threading.Lock()  # compiling is serialised; checking needs no lock

    # -- public -------------------------------------------------------------------------

    def validate(self, instance, schema):
        """Return the list of error strings for ``instance`` (empty when valid)."""
        errors = []
        self._check_for(schema)(instance, "$", errors)
        return ["%s: %s" % (path, message) for path, message, _ in errors]

    # -- compiling ----------------------------------------------------------------------

    def _check_for(self, schema):
        with self._lock:
            entry = self._by_id.get(id(schema))
            if entry is None or entry[0] is not schema:
                entry = (schema, self._compile(schema))
                self._by_id[id(schema)] = entry
            return entry[1]

    def _resolve(self, ref):
        return _resolve(self.document, ref)

    @staticmethod
    def _component_name(ref):
        prefix = "#/components/schemas/"
        return ref[len(prefix):] if ref.startswith(prefix) else None

    def _ref(self, ref, closed=None):
        """Check function for a $ref; closed=None means 'closed if named in self.closed'."""
        name = self._component_name(ref)
        if closed is None:
            closed = name in self.closed
        key = (ref, closed)
        check = self._by_ref.get(key)
        if check is None:
            # A stub first, so that recursive schemas compile.
            cell = []
            self._by_ref[key] = lambda v, p, e: cell[0](v, p, e)
            cell.append(self._compile(self._resolve(ref), name, closed))
            check = self._by_ref[key] = cell[0]
        return check

    def _sub(self, schema, closed=None):
        if not isinstance(schema, dict):
            raise SchemaError("schema must be an object, got %r" % (schema,))
        if "$ref" in schema:
            return self._ref(schema["$ref"], closed)
        return self._compile(schema)

    def _declared_properties(self, schema, seen=()):
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen:
                return set()
            return self._declared_properties(self._resolve(ref), seen + (ref,))
        names = set(schema.get("properties", ()))
        for member in schema.get("allOf", ()):
            names |= self._declared_properties(member, seen)
        return names

    def _compile(self, schema, name=None, closed=False):
        if not isinstance(schema, dict):
            raise SchemaError("schema must be an object, got %r" % (schema,))
        if "$ref" in schema:
            return self._ref(schema["$ref"])

        checks = []
        type_name = schema.get("type")
        if type_name is not None and type_name not in _TYPE_TESTS:
            raise SchemaError("unknown type %r" % (type_name,))
        null_ok = bool(schema.get("nullable")) or type_name is None

        if type_name is not None:
            test = _TYPE_TESTS[type_name]

            def check_type(v, path, errs, test=test, type_name=type_name):
                if test(v):
                    return True
                errs.append((path, "expected %s, got %s" % (type_name, _json_type(v)), False))
                return False
        else:
            check_type = None

        if "enum" in schema:
            checks.append(self._enum(schema["enum"], name))
        self._string_checks(schema, checks)
        self._number_checks(schema, checks)
        self._array_checks(schema, checks)
        self._object_checks(schema, checks, name, closed)
        self._combinator_checks(schema, checks)

        if not checks and check_type is None:
            if null_ok:
                return lambda v, path, errs: None

            def check_not_null(v, path, errs):
                if v is None:
                    errs.append((path, "must not be null", False))
            return check_not_null

        def check(v, path, errs):
            if v is None and null_ok:
                return
            if check_type is not None and not check_type(v, path, errs):
                return
            for c in checks:
                c(v, path, errs)
        return check

    def _enum(self, values, name):
        if all(isinstance(x, str) for x in values):
            allowed = frozenset(values)

            def contains(v):
                return isinstance(v, str) and v in allowed
        else:
            def contains(v):
                return any(_same_json(v, x) for x in values)
        if len(values) <= _ENUM_LIST_MAX or not name:
            shown = ", ".join(json.dumps(x) for x in values[:_ENUM_LIST_MAX])
            if len(values) > _ENUM_LIST_MAX:
                shown += ", ... (%d values)" % len(values)
            what = "one of " + shown
        else:
            what = "a %s value (%d allowed)" % (name, len(values))

        def check_enum(v, path, errs):
            if not contains(v):
                errs.append((path, "%s is not %s" % (json.dumps(v), what), False))
        return check_enum

    @staticmethod
    def _string_checks(schema, checks):
        min_len, max_len = schema.get("minLength"), schema.get("maxLength")
        if min_len is not None or max_len is not None:
            def check_length(v, path, errs):
                if isinstance(v, str):
                    if min_len is not None and len(v) < min_len:
                        errs.append((path, "shorter than %d characters" % min_len, False))
                    if max_len is not None and len(v) > max_len:
                        errs.append((path, "longer than %d characters" % max_len, False))
            checks.append(check_length)
        if "pattern" in schema:
            try:
                regex = re.compile(schema["pattern"], re.ASCII)  # ECMA-262's \d is [0-9]
            except re.error as exc:
                raise SchemaError("bad pattern %r: %s" % (schema["pattern"], exc)) from None

            def check_pattern(v, path, errs):
                if isinstance(v, str) and not regex.search(v):
                    errs.append((path, "%s does not match pattern %s"
                                 % (json.dumps(v), regex.pattern), False))
            checks.append(check_pattern)

    @staticmethod
    def _number_checks(schema, checks):
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        excl_min = bool(schema.get("exclusiveMinimum"))
        excl_max = bool(schema.get("exclusiveMaximum"))
        if minimum is not None or maximum is not None:
            def check_range(v, path, errs):
                if not _is_number(v):
                    return
                if minimum is not None and (v < minimum or (excl_min and v == minimum)):
                    errs.append((path, "must be %s %s"
                                 % (">" if excl_min else ">=", minimum), False))
                if maximum is not None and (v > maximum or (excl_max and v == maximum)):
                    errs.append((path, "must be %s %s"
                                 % ("<" if excl_max else "<=", maximum), False))
            checks.append(check_range)
        if "multipleOf" in schema:
            step = schema["multipleOf"]

            def check_multiple(v, path, errs):
                if _is_number(v):
                    q = v / step
                    if not math.isclose(q, round(q), rel_tol=0, abs_tol=1e-9):
                        errs.append((path, "not a multiple of %s" % step, False))
            checks.append(check_multiple)

    def _array_checks(self, schema, checks):
        min_items, max_items = schema.get("minItems"), schema.get("maxItems")
        if min_items is not None or max_items is not None:
            def check_count(v, path, errs):
                if isinstance(v, list):
                    if min_items is not None and len(v) < min_items:
                        errs.append((path, "expected at least %d items, got %d"
                                     % (min_items, len(v)), False))
                    if max_items is not None and len(v) > max_items:
                        errs.append((path, "expected at most %d items, got %d"
                                     % (max_items, len(v)), False))
            checks.append(check_count)
        if schema.get("uniqueItems"):
            def check_unique(v, path, errs):
                if isinstance(v, list):
                    for i in range(1, len(v)):
                        if any(_same_json(v[i], v[j]) for j in range(i)):
                            errs.append(("%s[%d]" % (path, i), "duplicate item", False))
            checks.append(check_unique)
        if "items" in schema:
            item_check = self._sub(schema["items"])

            def check_items(v, path, errs):
                if isinstance(v, list):
                    for i, item in enumerate(v):
                        item_check(item, "%s[%d]" % (path, i), errs)
            checks.append(check_items)

    def _object_checks(self, schema, checks, name, closed):
        required = schema.get("required")
        if required:
            def check_required(v, path, errs):
                if isinstance(v, dict):
                    for key in required:
                        if key not in v:
                            errs.append((path, "missing required property %r" % key, False))
            checks.append(check_required)

        count_min, count_max = schema.get("minProperties"), schema.get("maxProperties")
        if count_min is not None or count_max is not None:
            def check_count(v, path, errs):
                if isinstance(v, dict):
                    if count_min is not None and len(v) < count_min:
                        errs.append((path, "expected at least %d properties" % count_min, False))
                    if count_max is not None and len(v) > count_max:
                        errs.append((path, "expected at most %d properties" % count_max, False))
            checks.append(check_count)

        props = {key: self._sub(sub) for key, sub in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        if extra is True or extra == {}:
            extra_check = None
        elif extra is False:
            def extra_check(v, path, errs):
                errs.append((path, "unknown property (additionalProperties is false)", False))
        else:
            extra_check = self._sub(extra)

        if props or extra_check is not None:
            def check_properties(v, path, errs):
                if not isinstance(v, dict):
                    return
                for key, value in v.items():
                    sub = props.get(key, extra_check)
                    if sub is not None:
                        sub(value, _key_path(path, key), errs)
            checks.append(check_properties)

        if closed:
            allowed = frozenset(self._declared_properties(schema))

            def check_closed(v, path, errs):
                if isinstance(v, dict):
                    for key in v:
                        if key not in allowed:
                            errs.append((_key_path(path, key),
                                         "unknown property (not in %s)" % name, False))
            checks.append(check_closed)

    def _combinator_checks(self, schema, checks):
        for member in schema.get("allOf", ()):
            # allOf members are parts of this schema: never closed on their own.
            checks.append(self._sub(member, closed=False))

        discriminator = schema.get("discriminator")
        for keyword in ("oneOf", "anyOf"):
            if keyword not in schema:
                continue
            alternatives = schema[keyword]
            if discriminator:
                checks.append(self._discriminated(discriminator, alternatives))
            elif keyword == "oneOf":
                checks.append(self._one_of([self._sub(a) for a in alternatives]))
            else:
                checks.append(self._any_of([self._sub(a) for a in alternatives]))

        if "not" in schema:
            negated = self._sub(schema["not"])

            def check_not(v, path, errs):
                probe = []
                negated(v, path, probe)
                if not probe:
                    errs.append((path, "must not match the 'not' schema", False))
            checks.append(check_not)

    @staticmethod
    def _one_of(alternatives):
        def check_one_of(v, path, errs):
            matched, failures = [], []
            for index, alternative in enumerate(alternatives):
                found = []
                alternative(v, path, found)
                if found:
                    failures.append(found)
                else:
                    matched.append(index)
            if len(matched) == 1:
                return
            if matched:
                errs.append((path, "matches %d oneOf alternatives (#%s), exactly one allowed"
                             % (len(matched), ", #".join(map(str, matched))), False))
                return
            errs.extend(_closest(failures, path, "oneOf"))
        return check_one_of

    @staticmethod
    def _any_of(alternatives):
        def check_any_of(v, path, errs):
            failures = []
            for alternative in alternatives:
                found = []
                alternative(v, path, found)
                if not found:
                    return
                failures.append(found)
            errs.extend(_closest(failures, path, "anyOf"))
        return check_any_of

    def _discriminated(self, discriminator, alternatives):
        prop = discriminator["propertyName"]
        targets = {}
        for alternative in alternatives:
            name = self._component_name(alternative.get("$ref", ""))
            if name:
                targets[name] = alternative["$ref"]
        targets.update(discriminator.get("mapping", {}))
        branches = {value: self._ref(ref) for value, ref in targets.items()}
        expected = ", ".join(json.dumps(k) for k in discriminator.get("mapping", targets))

        def check_discriminated(v, path, errs):
            if not isinstance(v, dict):
                errs.append((path, "expected object, got %s" % _json_type(v), True))
                return
            if prop not in v:
                errs.append((path, "missing required property %r" % prop, True))
                return
            value = v[prop]
            branch = branches.get(value) if isinstance(value, str) else None
            if branch is None:
                errs.append((_key_path(path, prop), "%s is not one of %s"
                             % (json.dumps(value), expected), True))
                return
            branch(v, path, errs)
        return check_discriminated


def _operation(document, path, method):
    try:
        return document["paths"][path][method.lower()]
    except KeyError:
        raise SchemaError("no operation %s %s in the document" % (method.upper(), path)) from None


def request_body_schema(document, path, method, media_type="application/json"):
    """The request body schema of an operation, e.g. ('/catalogs/items/batch', 'POST')."""
    operation = _operation(document, path, method)
    try:
        return operation["requestBody"]["content"][media_type]["schema"]
    except KeyError:
        raise SchemaError("%s %s has no %s request body"
                          % (method.upper(), path, media_type)) from None


def response_body_schema(document, path, method, status, media_type="application/json"):
    """The schema of one response of an operation (status as int or 'default'); a
    status the operation does not list gets its 'default' response."""
    responses = _operation(document, path, method).get("responses", {})
    response = responses.get(str(status), responses.get("default"))
    try:
        return response["content"][media_type]["schema"]
    except (KeyError, TypeError):
        raise SchemaError("%s %s has no %s response in %s"
                          % (method.upper(), path, status, media_type)) from None


def parameter_schemas(document, path, method, location="query"):
    """The parameters of an operation in one location ('query', 'path', 'header'), as
    {name: (schema, required)}; parameters given by $ref are resolved.  Parameters
    declared on the path item apply too, unless the operation redeclares them."""
    operation = _operation(document, path, method)
    found = {}
    for declared in (document["paths"][path].get("parameters", ()),
                     operation.get("parameters", ())):
        for parameter in declared:
            if "$ref" in parameter:
                parameter = _resolve(document, parameter["$ref"])
            if parameter.get("in") == location:
                found[parameter["name"]] = (parameter.get("schema", {}),
                                            bool(parameter.get("required")))
    return found
