"""The contracts' JSON Schemas (web/schemas/*.schema.json), checked in Python: the bottom layer.

    validate(doc, "model-metadata", "metadata.json")   # returns doc, or raises SchemaError (one line)

One schema per contract, read by this module and by web/lib/schema.js, its twin; both are held to
the same verdicts by tests/conformance/schema_cases.json. Only the draft 2020-12 keywords the
schemas use are implemented (type, required, properties, additionalProperties (false or a schema),
const, enum, minimum/maximum and their exclusive forms, minItems/maxItems, uniqueItems, items,
minLength/maxLength, pattern);
an unknown keyword is an error, so a schema cannot silently ask for more than is checked. Numbers must
be finite (JSON has no NaN or Infinity, but Python's json module reads them). Rules across fields that
a schema cannot say are in `cross_check`. Standard library only; imports nothing from training,
predict or convert.
"""
from __future__ import annotations

import json
import math
import re
from functools import lru_cache

from .paths import WEB_DIR

SCHEMA_DIR = WEB_DIR / "schemas"
CONTRACTS = ("model-metadata", "face-pipeline", "manifest", "parity-report", "face-result", "adaptation",
             "profile")
_KNOWN = {"$schema", "$id", "title", "description", "type", "required", "properties", "additionalProperties",
          "const", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
          "uniqueItems", "items", "minLength", "maxLength", "pattern"}
_ARTICLE = {"object": "an object", "array": "an array", "string": "a string", "number": "a number",
            "integer": "an integer", "boolean": "a boolean", "null": "null"}


class SchemaError(ValueError):
    """A document breaks its contract; the message is one line: 'WHERE: PATH ...'."""


@lru_cache(maxsize=None)
def load_schema(contract: str) -> dict:
    if contract not in CONTRACTS:
        raise ValueError(f"unknown contract {contract!r} (known: {', '.join(CONTRACTS)})")
    return json.loads((SCHEMA_DIR / f"{contract}.schema.json").read_text())


def _is_number(x) -> bool:
    return _type_of(x) == "number"


def _type_of(x) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int):  # JS reads a 400-digit integer as Infinity: so does this
        return "number" if abs(x) < 2 ** 1024 else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, float):
        return "number" if math.isfinite(x) else ("NaN" if x != x else "Infinity" if x > 0 else "-Infinity")
    return {dict: "object", list: "array", str: "string"}.get(type(x), type(x).__name__)


def show(x) -> str:
    """A value as the message shows it, the same text as web/lib/schema.js (1e9 -> 1000000000)."""
    kind = _type_of(x)
    if kind == "number":
        if float(x).is_integer() and abs(x) < 1e21:
            return str(int(x))
        return re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(float(x)))  # JS: 1e-7, not 1e-07
    if kind in ("string", "boolean", "null"):
        return json.dumps(x if kind != "string" or len(x) <= 40 else x[:40] + "...")
    return _ARTICLE.get(kind, kind)


def _has_type(x, t: str) -> bool:
    if t == "integer":
        return _is_number(x) and float(x).is_integer()
    return _type_of(x) == t


def _check(x, s: dict, path: str) -> None:
    def fail(what: str):
        raise SchemaError(f"{path or 'the document'} {what}")

    unknown = set(s) - _KNOWN
    if unknown:
        raise ValueError(f"schema keyword {sorted(unknown)[0]!r} is not implemented")
    if "type" in s and not _has_type(x, s["type"]):
        fail(f"must be {_ARTICLE[s['type']]}, got {show(x)}")
    if _type_of(x) in ("NaN", "Infinity", "-Infinity"):  # const/enum/bounds below assume a real number
        fail(f"must be a finite number, got {show(x)}")
    if "const" in s and not _equal(x, s["const"]):
        fail(f"must be {show(s['const'])}, got {show(x)}")
    if "enum" in s and not any(_equal(x, e) for e in s["enum"]):
        fail(f"must be one of {', '.join(show(e) for e in s['enum'])}, got {show(x)}")
    if _is_number(x):
        for key, op, ok in (("minimum", ">=", lambda b: x >= b), ("maximum", "<=", lambda b: x <= b),
                            ("exclusiveMinimum", ">", lambda b: x > b), ("exclusiveMaximum", "<", lambda b: x < b)):
            if key in s and not ok(s[key]):
                fail(f"must be {op} {show(s[key])}, got {show(x)}")
    if isinstance(x, str):
        if len(x) < s.get("minLength", 0):
            fail(f"must have at least {s['minLength']} characters, got {show(x)}")
        if "maxLength" in s and len(x) > s["maxLength"]:
            fail(f"must have at most {s['maxLength']} characters, got {len(x)}")
        if "pattern" in s and not re.search(s["pattern"], x):  # patterns are kept to what both engines read alike
            fail(f"must match {s['pattern']}, got {show(x)}")
    if isinstance(x, list):
        if len(x) < s.get("minItems", 0):
            fail(f"must have at least {s['minItems']} items, got {len(x)}")
        if "maxItems" in s and len(x) > s["maxItems"]:
            fail(f"must have at most {s['maxItems']} items, got {len(x)}")
        if s.get("uniqueItems"):
            seen = set()
            for i, item in enumerate(x):
                key = json.dumps(_canon(item), sort_keys=True)
                if key in seen:
                    raise SchemaError(f"{path}[{i}] repeats an earlier item: {show(item)}")
                seen.add(key)
        for i, item in enumerate(x if "items" in s else ()):
            _check(item, s["items"], f"{path}[{i}]")
    if isinstance(x, dict):
        props = s.get("properties", {})
        for key in s.get("required", ()):
            if key not in x:
                want = f" (must be {show(props[key]['const'])})" if "const" in props.get(key, {}) else ""
                raise SchemaError(f"{_join(path, key)} is missing{want}")
        for key, sub in props.items():
            if key in x:
                _check(x[key], sub, _join(path, key))
        extra = s.get("additionalProperties", True)
        for key in (k for k in x if k not in props and extra is not True):
            if extra is False:
                raise SchemaError(f"{_join(path, key)} is not allowed here")
            _check(x[key], extra, _join(path, key))


def _join(path: str, key: str) -> str:
    """a.b, or a["b.json"] for a key that is not a plain name (the same as web/lib/schema.js)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _canon(x):
    """x with 1.0 written as 1, as JSON (and JS) sees numbers: for uniqueItems."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e21:
        return int(x)
    if isinstance(x, list):
        return [_canon(v) for v in x]
    return {k: _canon(v) for k, v in x.items()} if isinstance(x, dict) else x


def _equal(a, b) -> bool:  # JSON equality: 1 == 1.0, but True != 1
    return _type_of(a) == _type_of(b) and a == b


def cross_check(doc: dict, contract: str) -> None:
    """The rules between fields (run after the schema passed); the same as crossCheck in web/lib/schema.js."""
    if contract == "model-metadata" and "prior" in doc:
        probs, n = doc["prior"]["probabilities"], len(doc["classes"])
        if len(probs) != n:
            raise SchemaError(f"prior.probabilities has {len(probs)} entries, classes has {n}")
        if abs(sum(probs) - 1) > 1e-6:
            raise SchemaError(f"prior.probabilities must sum to 1 (within 1e-6), got {show(sum(probs))}")
    if contract == "face-result":
        _face_result_cross_check(doc)
    if contract == "profile":
        _profile_cross_check(doc)
    if contract == "face-pipeline":
        low, high = doc["detector"]["inputRange"]
        if not low < high:
            raise SchemaError(f"detector.inputRange must be [low, high] with low < high, got [{show(low)}, {show(high)}]")
        if doc["cadence"]["minEvery"] > doc["cadence"]["maxEvery"]:
            raise SchemaError(f"cadence.minEvery must be <= cadence.maxEvery, got {show(doc['cadence']['minEvery'])} "
                              f"> {show(doc['cadence']['maxEvery'])}")


def _face_result_cross_check(doc: dict) -> None:
    probs = doc["probabilities"]
    if doc["label"] not in probs:
        raise SchemaError(f"label {show(doc['label'])} is not a key of probabilities")
    if abs(doc["confidence"] - probs[doc["label"]]) > 1e-6:
        raise SchemaError(f"confidence must be probabilities[label] (within 1e-6), got {show(doc['confidence'])} "
                          f"and {show(probs[doc['label']])}")


def _profile_cross_check(doc: dict) -> None:
    model, classes, k = doc["model"]["classes"], doc["classes"], len(doc["classes"])
    for i, name in enumerate(model):  # the head's first columns are the model's outputs, in order
        if i >= k or classes[i] != name:
            got = show(classes[i]) if i < k else "nothing"
            raise SchemaError(f"classes[{i}] must be {show(name)} (classes start with model.classes in order), got {got}")
    for i in range(len(model), k):
        if classes[i] in model:
            raise SchemaError(f"classes[{i}] {show(classes[i])} is a model class; a custom class needs its own name")
        if classes[i] in classes[len(model):i]:
            raise SchemaError(f"classes[{i}] repeats an earlier custom class: {show(classes[i])}")
    for key, values in (("counts", doc["counts"]), ("head.bias", doc["head"]["bias"])):
        if len(values) != k:
            raise SchemaError(f"{key} has {len(values)} entries, classes has {k}")
    weights, d = doc["head"]["weights"], len(doc["head"]["center"])
    for j, row in enumerate(weights):
        if len(row) != k:
            raise SchemaError(f"head.weights[{j}] has {len(row)} entries, classes has {k}")
    if len(weights) != d:
        raise SchemaError(f"head.weights has {len(weights)} rows, head.center has {d} entries")
    for i, name in enumerate(doc["hidden"]):
        if name not in classes:
            raise SchemaError(f"hidden[{i}] {show(name)} is not one of classes")
    if k - len(doc["hidden"]) < 2:
        raise SchemaError(f"hidden leaves {k - len(doc['hidden'])} of {k} classes visible; at least 2 must stay")


def validate(doc, contract: str, where: str, subtree: str | None = None):
    """doc if it keeps the contract, else SchemaError('WHERE: PATH must ...'). `subtree` checks one
    property's value alone (e.g. "calibration") against its part of the schema."""
    schema = load_schema(contract)
    try:
        if subtree is not None:
            _check(doc, schema["properties"][subtree], subtree)
        else:
            _check(doc, schema, "")
            cross_check(doc, contract)
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    return doc
