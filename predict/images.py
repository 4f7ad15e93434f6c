"""Reading, finding and writing image files, with one-line errors for anything unusable."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_browser.core.atomic import atomic_open

from .errors import PredictError
from .input_policy import load_policy, open_checked
from .outputs import FileSet


def image_suffixes() -> tuple[str, ...]:
    """Names picked out of folders (the content is still checked file by file, by its first bytes)."""
    return load_policy().extensions


def find_images(paths) -> list[Path]:
    """Files as given (their format is checked) and the images inside folders (recursively, sorted)."""
    suffixes = image_suffixes()
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not inside:
                raise PredictError(f"{path}: folder holds no images ({' '.join(suffixes)})")
            found.extend(inside)
        else:
            found.append(path)  # read_rgb names what is wrong with it, file by file
    return found


def read_rgb(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); EXIF orientation applied as a browser does. Raises InputRejected (with the
    policy's reason) for anything web/input_policy.json refuses, before decoding where it can."""
    from PIL import ImageOps

    with open_checked(Path(path)) as img:
        ImageOps.exif_transpose(img, in_place=True)  # in place: no second full-size copy
        return pil_to_rgb(img)


def pil_to_rgb(img) -> np.ndarray:
    """A loaded Pillow image as RGB uint8 (H, W, 3), the same for a file and the Python API's images."""
    if img.mode.startswith("I"):  # 16-bit greyscale PNG: keep the high byte, as browsers do
        grey = (np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    # Copied out in bands of about 4 MB: np.asarray on the whole image would hold two more
    # full-size copies at once (Pillow's tobytes chunks and their join).
    w, h = rgb.size
    out = np.empty((h, w, 3), np.uint8)
    band = max(1, 2**22 // (3 * w))
    for y in range(0, h, band):
        out[y:y + band] = np.asarray(rgb.crop((0, y, w, min(h, y + band))))
    return out


def write_image(path: Path, img) -> None:
    """Encode a Pillow image in memory (format from the suffix), then write atomically: never half an
    image. Pillow, not OpenCV: the predict extra has no OpenCV (it is the video extra's)."""
    import io

    from PIL import Image

    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise PredictError(f"{path}: Pillow cannot encode {Path(path).suffix} images")
    buf = io.BytesIO()
    # JPEG and WebP at quality 95 (OpenCV's JPEG default, which wrote these copies before); Pillow's is 75
    img.save(buf, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    with atomic_open(path) as fh:
        fh.write(buf.getvalue())


def write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def output_names(paths: list[Path], out_dir: Path) -> list[Path]:
    """One annotated file per input, same name in out_dir; clashing names get -2, -3... . A name that is
    one of the inputs (any spelling of it: symlink, hard link) becomes NAME-annotated: never an input."""
    inputs = FileSet(paths)
    suffixes = image_suffixes()
    taken: set[str] = set()
    names = []
    for p in paths:
        suffix = p.suffix.lower() if p.suffix.lower() in suffixes else ".png"
        stem, name, n = p.stem, p.stem + suffix, 1
        if Path(out_dir) / name in inputs:
            stem = name = f"{p.stem}-annotated"
            name += suffix
        while name in taken or Path(out_dir) / name in inputs:
            n += 1
            name = f"{stem}-{n}{suffix}"
        taken.add(name)
        names.append(Path(out_dir) / name)
    return names
