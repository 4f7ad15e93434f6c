"""Which images are analysed: web/input_policy.json, the same data the page reads (web/js/input_policy.js).

Checks run cheapest first and the same order as the page's: size on disk, format by its first bytes,
dimensions from the header (Pillow opens lazily: nothing is decoded yet), then the full decode, which
fails on a truncated file instead of returning part of an image.
"""
from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from fer_browser.paths import WEB_DIR

from .errors import PredictError

POLICY_FILE = WEB_DIR / "input_policy.json"
SUPPORTED_VERSION = 1
HEAD_BYTES = 64  # enough for every signature in the policy


class InputRejected(PredictError):
    """A file the policy refuses; `reason` is one of the policy's reason names (the page uses the same)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Format:
    name: str
    accepted: bool
    extensions: tuple[str, ...]
    signatures: tuple[tuple[tuple[int, bytes], ...], ...]  # any of these; each a list of (offset, bytes), all must match
    why: str = ""

    def matches(self, head: bytes) -> bool:
        return any(all(head[o:o + len(b)] == b for o, b in sig) for sig in self.signatures)


@dataclass(frozen=True)
class Policy:
    max_file_bytes: int
    max_megapixels: float
    formats: tuple[Format, ...]
    reasons: tuple[str, ...]

    @property
    def accepted(self) -> list[Format]:
        return [f for f in self.formats if f.accepted]

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(e for f in self.accepted for e in f.extensions)

    def accepted_names(self) -> str:
        names = [f.name for f in self.accepted]
        return ", ".join(names[:-1]) + " or " + names[-1]

    def identify(self, head: bytes) -> Format | None:
        return next((f for f in self.formats if f.matches(head)), None)


@functools.lru_cache(maxsize=None)
def load_policy(path: Path = POLICY_FILE) -> Policy:
    try:
        raw = json.loads(Path(path).read_text())
        if raw.get("version") != SUPPORTED_VERSION:
            raise ValueError(f"version {raw.get('version')!r}, this code reads version {SUPPORTED_VERSION}")
        formats = tuple(Format(f["name"], bool(f["accepted"]), tuple(f.get("extensions", ())),
                               tuple(tuple((int(s["offset"]), bytes.fromhex(s["hex"])) for s in sig)
                                     for sig in f["signatures"]), f.get("why", ""))
                        for f in raw["formats"])
        return Policy(int(raw["max_file_bytes"]), float(raw["max_megapixels"]), formats, tuple(raw["reasons"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PredictError(f"{path}: unreadable input policy ({exc})") from None


def check_file(path: Path, policy: Policy | None = None) -> Format:
    """Size and format checks that need only the first bytes; returns the accepted format."""
    policy = policy or load_policy()
    path = Path(path)
    if path.is_dir():
        raise PredictError(f"{path}: is a folder, not an image file (the Python API reads one image at a time; "
                           "fer-predict image reads folders)")
    if not path.is_file():
        raise PredictError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise InputRejected("empty", f"{path}: the file is empty (0 bytes)")
    if size > policy.max_file_bytes:
        raise InputRejected("file_size", f"{path}: the file is {size / 2**20:.0f} MB; images up to "
                                         f"{policy.max_file_bytes / 2**20:.0f} MB are accepted")
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    fmt = policy.identify(head)
    if fmt is None:
        raise InputRejected("format", f"{path}: not a {policy.accepted_names()} image "
                                      "(its first bytes match none of them, whatever its name says)")
    if not fmt.accepted:
        raise InputRejected("format", f"{path}: {fmt.name} images are not accepted: {fmt.why}")
    return fmt


def check_dimensions(width: int, height: int, what: str, policy: Policy | None = None) -> None:
    """The policy's pixel limit, for files (from the header) and in-memory images alike."""
    policy = policy or load_policy()
    if width * height > policy.max_megapixels * 1e6:
        raise InputRejected("dimensions", f"{what}: image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
                                          f"the limit is {policy.max_megapixels:.0f} megapixels: downscale it first")


def open_checked(path: Path, policy: Policy | None = None):
    """A Pillow image, fully decoded, that passed every check; raises InputRejected otherwise."""
    from PIL import Image

    policy = policy or load_policy()
    fmt = check_file(path, policy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is lower
        try:
            # Only the plugin the signature named parses the file; open() reads the header, nothing more.
            img = Image.open(path, formats=[fmt.name.upper()])
        except Image.DecompressionBombError:
            raise InputRejected("dimensions", f"{path}: image is over {Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f} "
                                              f"megapixels; the limit is {policy.max_megapixels:.0f} megapixels") from None
        except Exception as exc:  # Pillow raises many types on a damaged header
            raise InputRejected("corrupt", f"{path}: damaged {fmt.name} header ({_short(exc)})") from None
    try:
        check_dimensions(*img.size, str(path), policy)
    except InputRejected:
        img.close()
        raise
    try:
        img.load()  # the whole file: Pillow raises on truncation (ImageFile.LOAD_TRUNCATED_IMAGES is False)
    except Exception as exc:
        img.close()
        raise InputRejected("corrupt", f"{path}: {fmt.name} image is truncated or damaged ({_short(exc)})") from None
    return img


def _short(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]
