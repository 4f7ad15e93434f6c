"""TF.js in headless Chromium (wasm backend), where the model really runs.

The server's own static app (fer_browser.static.static_app) serves the model directory, the web
library's model code (web/lib), the page's whitelisted npm TF.js files and convert/browser_harness.html on
127.0.0.1; Playwright drives Debian's /usr/bin/chromium (never `playwright install`). Nothing is
fetched from outside the machine.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fer_browser.paths import VENDOR, WEB_DIR, vendor_hint

from .errors import ConvertError

HARNESS_DIR = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
# Flags measured to work headless as root here (shared/notes/browser.md); no outside traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TFJS_DIR = VENDOR["tfjs"][0]
WASM_DIR = VENDOR["tfjs-backend-wasm"][0]


class TfjsBrowser:
    """`with TfjsBrowser(model_dir) as b: b.run(n)`; the model is loaded once, on the wasm backend."""

    def __init__(self, model_dir: Path, backend: str = "wasm"):
        self.model_dir, self.backend = Path(model_dir), backend
        self.info: dict = {}
        self.console: list[str] = []

    def __enter__(self) -> "TfjsBrowser":
        from fer_browser.static import serve_in_background, static_app

        if not Path(CHROMIUM).exists():
            raise ConvertError(f"{CHROMIUM} is missing; run `make setup` (it installs Debian's chromium)")
        for need in (TFJS_DIR / "tf.fesm.min.js", WASM_DIR / "tf-backend-wasm.fesm.min.js"):
            if not need.exists():
                raise ConvertError(f"{need} is missing; {vendor_hint()}")
        app = static_app({"/model/": self.model_dir, "/web/": WEB_DIR, "/harness/": HARNESS_DIR})
        self.server, self.base = serve_in_background(app)
        try:
            self._start_browser()
        except BaseException:
            self.close()
            raise
        return self

    def _start_browser(self) -> None:
        from playwright.sync_api import sync_playwright

        # the pid lets a later run remove the profile of a run that was killed (convert/cleanup.py)
        self.profile = tempfile.TemporaryDirectory(prefix=f"fer-chromium-{os.getpid()}-")
        self.pw = sync_playwright().start()
        self.context = self.pw.chromium.launch_persistent_context(
            self.profile.name, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        self.page = self.context.new_page()
        # a persistent context has no .browser.version, and the user agent says only "156.0.0.0"
        product = self.context.new_cdp_session(self.page).send("Browser.getVersion")["product"]
        self.info["chromium"] = product.split("/")[-1]
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.goto(f"{self.base}/harness/browser_harness.html")
        self.page.wait_for_function("window.harnessReady === true", timeout=30_000)
        try:
            self.info.update(self.page.evaluate("([u, b]) => harness.load(u, b)", [f"{self.base}/model", self.backend]))
        except Exception as exc:  # playwright.Error: the page's own message is the useful part
            raise ConvertError(f"TF.js could not load the model: {_js_message(exc)}") from None

    def run(self, n: int, inputs_file: str, batch: int = 64) -> dict:
        """Probabilities and log-probabilities for the n reference inputs in DIR/inputs_file."""
        return self.page.evaluate("([u, n, b]) => harness.run(u, n, b)", [f"{self.base}/model/{inputs_file}", n, batch])

    def embed(self, n: int, inputs_file: str) -> dict:
        """EmotionModel.embedNormalized on the first n inputs: probabilities, logProbs, embeddings (or error)."""
        return self.page.evaluate("([u, n]) => harness.embed(u, n)", [f"{self.base}/model/{inputs_file}", n])

    def bench(self, n: int, reps: int, warmup: int, inputs_file: str) -> list[float]:
        return self.page.evaluate("([u, n, r, w]) => harness.bench(u, n, r, w)",
                                  [f"{self.base}/model/{inputs_file}", n, reps, warmup])

    def close(self) -> None:
        for closer in (lambda: self.context.close(), lambda: self.pw.stop(), lambda: self.profile.cleanup(),
                       lambda: self.server.shutdown(), lambda: self.server.server_close()):
            try:
                closer()
            except Exception:  # AttributeError when start-up failed half way; nothing to undo then
                pass

    def __exit__(self, *exc) -> None:
        self.close()


def _js_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    return text[0].removeprefix("Page.evaluate: ").removeprefix("Error: ").strip()
