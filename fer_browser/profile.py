"""A personal profile (web/schemas/profile.schema.json, fer-profile/1): a fitted head and what it is for.

    profile = make_profile(fit_head(...), meta, custom=["wink"], hidden=["disgust"])
    save_profile(profile, "me.json"); profile = load_profile("me.json", meta)
    probs = profile_probabilities(profile, embeddings, log_probs)    # n x K, hidden classes 0

The head only means something on top of the model it was fitted on, so a profile names that model's
weights digest (metadata.json weights_sha256) and classes, and is refused for any other model. The
twin is web/lib/profile.js (same checks, same one-line messages). NumPy only.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .adaptation import head_probabilities, load_settings
from .schema import SchemaError, show, validate

SCHEMA = "fer-profile/1"
# Far above a real profile (192 x 8 weights: ~40 KB) yet enough for the schema's largest head
# (4096 x 64 numbers at ~24 characters each); checked before the file is read whole.
MAX_BYTES = 8 * 1024 * 1024


class ProfileError(ValueError):
    """A profile that cannot be made, read or used here; one line."""


def make_profile(head: dict, meta: dict, custom=(), hidden=(), settings: dict | None = None,
                 created: str | None = None) -> dict:
    """The profile of a head from adaptation.fit_head(..., settings) for the model `meta` describes;
    custom: the user's class names after the model's; hidden: class names never to be shown."""
    fit = (settings or load_settings())["fit"]
    if not meta.get("weights_sha256"):
        raise ProfileError("the model's metadata.json has no weights_sha256: a profile cannot be tied to it")
    profile = {
        "schema": SCHEMA,
        "model": {"weights_sha256": meta.get("weights_sha256"), "classes": list(meta["classes"])},
        "classes": list(meta["classes"]) + list(custom),
        "hidden": list(hidden),
        "counts": [int(c) for c in head["counts"]],
        "head": {key: head[key] for key in ("weights", "bias", "center", "scale")},
        "settings": {key: fit[key] for key in ("steps", "weight_decay", "bias_decay")},
        "created": created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return check_profile(profile, meta, "the new profile")


def check_profile(doc, meta: dict, where: str) -> dict:
    """doc if it is a fer-profile/1 profile for the model `meta` describes, else ProfileError."""
    version = doc.get("schema") if isinstance(doc, dict) else None
    if version != SCHEMA:  # before the schema: a newer file deserves a clearer word than 'must be'
        raise ProfileError(f"{where}: not a profile this version can read (schema {show(version)}; "
                           f"it reads {SCHEMA})")
    try:
        validate(doc, "profile", where)
    except SchemaError as exc:
        raise ProfileError(str(exc)) from None
    ours, theirs = meta.get("weights_sha256"), doc["model"]["weights_sha256"]
    if ours != theirs:
        mine = ours[:12] if isinstance(ours, str) else "no digest"
        raise ProfileError(f"{where}: made for model {theirs[:12]}, this model is {mine}; "
                           "record the expressions again for this model")
    if doc["model"]["classes"] != list(meta["classes"]):  # same digest, other classes: a hand-edited file
        raise ProfileError(f"{where}: model.classes differ from the model's classes")
    size = (meta.get("model") or {}).get("embedding", {}).get("size")
    if size is not None and size != len(doc["head"]["center"]):
        raise ProfileError(f"{where}: the head takes {len(doc['head']['center'])} embedding values, "
                           f"the model gives {size}")
    return doc


def _parse(text: str, where: str):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: '[[[[...' nested past the parser's depth
        raise ProfileError(f"{where}: not JSON ({str(exc).splitlines()[0][:80]})") from None


def load_profile(path, meta: dict) -> dict:
    """The profile in the file `path`, checked for the model `meta` describes."""
    path = Path(path)
    try:
        if os.stat(path).st_size > MAX_BYTES:  # before reading: a wrong file picked may be gigabytes
            raise ProfileError(f"{path}: larger than a profile can be ({MAX_BYTES // 2 ** 20} MiB)")
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read it ({exc})") from None
    return check_profile(_parse(text, str(path)), meta, str(path))


def save_profile(profile: dict, path) -> None:
    """Write `profile` to `path` whole or not at all (a crash keeps the previous file)."""
    from fer_browser.core.atomic import atomic_open

    try:
        validate(profile, "profile", str(path))  # a bad profile never lands on disk
        text = json.dumps(profile, allow_nan=False)
    except SchemaError as exc:
        raise ProfileError(str(exc)) from None
    with atomic_open(Path(path), "w", encoding="utf-8") as fh:
        fh.write(text)


def profile_probabilities(profile: dict, embeddings, log_probs) -> np.ndarray:
    """Probabilities over profile["classes"] for n faces (embeddings n x d, the model's log-probabilities
    n x K_model); hidden classes get 0 and the rest share 1."""
    e, lp = np.atleast_2d(np.asarray(embeddings, float)), np.atleast_2d(np.asarray(log_probs, float))
    d, k_model = len(profile["head"]["center"]), len(profile["model"]["classes"])
    if e.shape[1] != d or lp.shape[1] != k_model or len(e) != len(lp):
        raise ProfileError(f"the profile takes n x {d} embeddings and n x {k_model} log-probabilities, "
                           f"got {e.shape[0]} x {e.shape[1]} and {lp.shape[0]} x {lp.shape[1]}")
    hidden = [profile["classes"].index(name) for name in profile["hidden"]]
    return head_probabilities(profile["head"], e, lp, hidden)
