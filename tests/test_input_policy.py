"""`python -m predict image` and the page refuse the same files for the same reason (web/input_policy.json).

One set of files, good and bad, goes through both: the CLI's JSON report gives each file's reason,
the page's upload handler records its own (ferApp.state.upload). The expected verdicts are written
here by hand, from what each file is, not read from the policy code.
"""
from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest

from predict_helpers import astronaut, model_dir, run_predict
from web_helpers import page_on_server, wait_js

SVG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="512" '
       b'height="512"><circle cx="256" cy="256" r="200" fill="tan"/></svg>\n')


def encoded(rgb: np.ndarray, fmt: str, **kw) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A real 64x64 PNG whose IHDR (CRC fixed up) claims width x height: small file, huge image."""
    data = bytearray(encoded(astronaut()[:64, :64], "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 64x64 baseline JPEG whose frame header (SOF0) claims width x height."""
    data = bytearray(encoded(astronaut()[:64, :64], "JPEG", quality=90))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bad_files() -> dict[str, tuple[bytes, str]]:
    """name -> (content, expected verdict: 'ok' or the policy's reason)."""
    photo = astronaut()
    jpeg = encoded(photo, "JPEG", quality=92)
    png = encoded(photo, "PNG")
    return {
        "astronaut.png": (png, "ok"),
        "astronaut.webp": (encoded(photo, "WEBP", quality=90), "ok"),
        "astronaut.bmp": (encoded(photo, "BMP"), "ok"),
        "truncated.jpg": (jpeg[:len(jpeg) // 2], "corrupt"),
        "truncated.png": (png[:len(png) // 2], "corrupt"),
        "header_only.jpg": (jpeg[:20], "corrupt"),  # cut before the frame header: no dimensions to read
        "zero_bytes.jpg": (b"", "empty"),
        "text_renamed.jpg": (b"Dear diary, today I renamed a text file to .jpg\n" * 20, "format"),
        "huge_header.png": (png_claiming(12000, 12000), "dimensions"),
        "huge_header.jpg": (jpeg_claiming(12000, 12000), "dimensions"),
        "drawing.svg": (SVG, "format"),
        "drawing_svg_renamed.png": (SVG, "format"),
        "animation.gif": (encoded(photo, "GIF"), "format"),
    }


OVERSIZED = "oversized.jpg"  # a real JPEG padded (sparse) past 50 MiB: refused by size before anything else


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    for name, (data, _) in bad_files().items():
        (folder / name).write_bytes(data)
    with open(folder / OVERSIZED, "wb") as fh:
        fh.write(encoded(astronaut(), "JPEG"))
        fh.truncate(51 * 2**20)
    return folder


def expected_verdicts() -> dict[str, str]:
    return {**{name: verdict for name, (_, verdict) in bad_files().items()}, OVERSIZED: "file_size"}


@pytest.fixture(scope="module")
def python_verdicts(files):
    names = list(expected_verdicts())
    proc = run_predict("image", *(files / n for n in names), "--model-dir", model_dir(), "--json", "-",
                       "--no-images")
    assert proc.returncode == 1, proc.stderr  # some files refused
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    report = json.loads(proc.stdout)
    verdicts = {}
    for entry in report["images"]:
        name = entry["path"].rsplit("/", 1)[-1]
        verdicts[name] = entry.get("reason", "ok" if "faces" in entry else "?")
        if "error" in entry:  # one line on stderr per refused file, naming it
            assert sum(name in line for line in errors) == 1, (name, errors)
    assert "Traceback" not in proc.stderr
    return verdicts, report


@pytest.fixture(scope="module")
def page_verdicts(files):
    # count decodes: a file refused by its header must never reach createImageBitmap
    count_decodes = """(() => { const real = window.createImageBitmap; window.__decodes = [];
        window.createImageBitmap = (blob, ...rest) => { window.__decodes.push(blob.name);
                                                        return real(blob, ...rest); }; })()"""
    with page_on_server(model_dir(), init_script=count_decodes) as (page, errors):
        out = {}
        for name in expected_verdicts():
            page.set_input_files("#file", str(files / name))
            wait_js(page, f"ferApp.state.upload?.name === {name!r} && ferApp.state.upload.accepted !== null")
            upload = page.evaluate("ferApp.state.upload")
            out[name] = {"verdict": "ok" if upload["accepted"] else upload["reason"],
                         "message": page.evaluate("(m => m.hidden ? '' : m.textContent)"
                                                  "(document.getElementById('message'))"),
                         "faces": page.evaluate("ferApp.results().length"),
                         "listed": page.locator("#faces .face").count(),
                         "mode": page.evaluate("ferApp.state.mode")}
        decodes = page.evaluate("window.__decodes")
        assert not errors, errors
    return out, decodes


def test_python_and_page_give_the_same_verdicts(python_verdicts, page_verdicts):
    py, _ = python_verdicts
    page, _ = page_verdicts
    expected = expected_verdicts()
    table = {name: (expected[name], py.get(name), page[name]["verdict"]) for name in expected}
    print("\nfile | expected | python | page\n" + "\n".join(f"{n} | {e} | {p} | {j}" for n, (e, p, j) in table.items()))
    assert {n: p for n, (_, p, _) in table.items()} == expected
    assert {n: j for n, (_, _, j) in table.items()} == expected


def test_good_photos_are_analysed_on_both_sides(python_verdicts, page_verdicts):
    _, report = python_verdicts
    page, _ = page_verdicts
    for entry in report["images"]:
        name = entry["path"].rsplit("/", 1)[-1]
        if expected_verdicts()[name] == "ok":
            assert len(entry["faces"]) == 1 and (entry["width"], entry["height"]) == (512, 512), name
            assert page[name]["faces"] == 1 and page[name]["mode"] == "photo", name


def test_page_never_decodes_a_file_its_header_refuses(page_verdicts):
    """Only files that pass the header checks reach createImageBitmap: the 12000x12000 claims are
    refused without allocating 144 megapixels."""
    _, decodes = page_verdicts
    expected = {name for name, (_, verdict) in bad_files().items() if verdict in ("ok", "corrupt")}
    expected -= {"header_only.jpg"}  # refused at the header, like the Python side
    assert set(decodes) == expected


def test_a_refused_upload_clears_the_previous_photo(page_verdicts):
    """Files go in order good, good, good, then bad: after each bad one nothing of a photo remains."""
    page, _ = page_verdicts
    for name, verdict in expected_verdicts().items():
        if verdict != "ok":
            assert page[name]["faces"] == 0 and page[name]["listed"] == 0 and page[name]["mode"] == "idle", name
            assert page[name]["message"].startswith(f'"{name}"'), page[name]["message"]



def real_png(path, width: int, height: int):
    """A complete, valid RGB PNG of width x height grey pixels, written row by row (small file, low memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z, row = zlib.compressobj(9), b"\0" + b"\x80" * (3 * width)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_python_refuses_144_megapixels_without_decoding_them(tmp_path):
    """Peak memory of a process refusing a real 12000x12000 PNG stays near the interpreter's own:
    decoding it would take 432 MB for the RGB pixels alone."""
    import subprocess
    import sys

    from predict_helpers import ROOT
    path = real_png(tmp_path / "huge.png", 12000, 12000)
    code = ("import sys\nfrom predict.images import read_rgb\nfrom predict.input_policy import InputRejected\n"
            "try:\n    read_rgb(sys.argv[1])\nexcept InputRejected as e:\n    print(e.reason)\n"
            # VmHWM: this process's own peak; ru_maxrss would include the parent's RSS at the fork
            "print(int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) // 1024)")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and len(proc.stdout.split()) == 2, proc.stdout + proc.stderr
    reason, peak_mib = proc.stdout.split()
    assert reason == "dimensions", proc.stderr
    assert int(peak_mib) < 200, peak_mib
