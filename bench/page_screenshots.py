"""Screenshots of the page for the README: the six-face photo uploaded at phone size (390 x 844 CSS px,
touch) and at desktop size (1280 x 900), in headless Chromium, with the shipped model.

    .venv/bin/python bench/page_screenshots.py [--out docs]

Writes OUT/page-phone.png and OUT/page-desktop.png at one pixel per CSS pixel, reduced to 128
colours so they stay small.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench import browser_kit as kit  # noqa: E402

SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True,
              "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args(argv)
    from PIL import Image
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        photo = Path(tmp) / "six-faces.jpg"
        Image.fromarray(kit.six_faces_photo()).save(photo, quality=92)
        server = kit.Server(None)
        browser = kit.launch_chromium(pw, None)
        try:
            for name, ctx in SIZES.items():
                context = browser.new_context(**ctx)
                page = context.new_page()
                page.goto(server.url + "/")
                if page.evaluate("ferApp.ready") is not True:
                    raise RuntimeError(f"the page did not load: {page.text_content('#message')}")
                page.set_input_files("#file", str(photo))
                kit.wait_js(page, "ferApp.state.mode === 'photo'")
                png = page.screenshot(scale="css")
                context.close()
                img = Image.open(io.BytesIO(png)).convert("RGB").quantize(128, dither=Image.Dither.NONE)
                img.save(args.out / f"page-{name}.png", optimize=True)
                print(f"{args.out / f'page-{name}.png'}: {img.width}x{img.height}, "
                      f"{(args.out / f'page-{name}.png').stat().st_size:,} bytes")
        finally:
            browser.close()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
