"""fer-browser as a web developer installs it from npm: `npm pack` of this repository installed into a
blank project with its peer dependencies (from the npm registry; the cache is a temp folder), then
the package README's five-line snippet, unchanged, run in real headless Chromium on a real photo
(scikit-image's astronaut):

- bundled by esbuild and by Vite (their default settings), with the files copied as the README's
  shell lines copy them;
- without a bundler, through the README's copy-paste import map, and the example page the tarball
  carries (web/examples/installed.html).

No URL is configured anywhere: createRecognizer() finds the model, the settings, the detector and
the .wasm files itself. Each variant is served as plain files by Python's http.server.
"""
from __future__ import annotations

import functools
import http.server
import json
import math
import re
import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from web_helpers import ASTRONAUT_FACE, ROOT, PageWatch, astronaut_frame, launch_chromium, wait_js

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# pinned, so a new release of either cannot change what this test means
ESBUILD, VITE = "esbuild@0.25.9", "vite@7.3.8"
PACKAGE_README = ROOT / "npm" / "README.md"
CLASSES = json.loads((ROOT / "models/fer-default/export/metadata.json").read_text())["classes"]


def readme_block(lang: str, after: str) -> str:
    """The first ```lang block of the package README after the line containing `after`."""
    text = PACKAGE_README.read_text()
    match = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, text.index(after))
    return re.sub(r"(?m)^  ", "", match.group(1))  # blocks inside a list item are indented


def npm(*args, cwd, timeout=300) -> str:
    proc = subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"npm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A blank npm project with the packed fer-browser, its peers, esbuild and Vite installed, and
    photo.jpg (the astronaut); also the README's five lines as src/main.js."""
    assert shutil.which("npm"), "npm is needed"
    tmp = tmp_path_factory.mktemp("npm")
    tarball = tmp / json.loads(npm("pack", "--json", "--pack-destination", str(tmp), cwd=ROOT))[0]["filename"]
    proj = tmp / "project"
    proj.mkdir()
    (proj / "package.json").write_text(json.dumps({"name": "blank", "private": True, "type": "module"}))
    install = readme_block("sh", "## Install").split()
    assert install[:3] == ["npm", "install", "fer-browser"], install
    npm("install", "--no-audit", "--no-fund", "--cache", str(tmp / "cache"), str(tarball), *install[3:],
        ESBUILD, VITE, cwd=proj)
    (proj / "src").mkdir()
    # window.faces: what the snippet found, for the test to read
    (proj / "src/main.js").write_text(readme_block("js", "## Use") + "window.faces = faces;\n")
    Image.fromarray(astronaut_frame()).save(proj / "photo.jpg", quality=92)
    return proj


def copy_files(proj: Path, target: str):
    """Run the README's copy lines, with `public/` replaced by the folder the bundle is served from."""
    script = readme_block("sh", "**With a bundler**").replace("public/", f"{target}/")
    subprocess.run(["bash", "-euc", script], cwd=proj, check=True)


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".js": "text/javascript"}

    def log_message(self, *args):
        pass


@contextmanager
def serve(folder: Path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = launch_chromium(pw, None)
        yield b
        b.close()


def faces_on(browser, folder: Path, page_path: str) -> list[dict]:
    """Open page_path served from `folder`; the faces its snippet found (window.faces)."""
    with serve(folder) as url:
        page = browser.new_page()
        watch = PageWatch(page)
        missing = []
        page.on("response", lambda r: r.status >= 400 and missing.append(r.url))
        page.goto(f"{url}/{page_path}")
        wait_js(page, "window.faces || false", timeout_s=120)
        faces = page.evaluate("window.faces")
        backend = page.evaluate("import('@tensorflow/tfjs').then((tf) => tf.getBackend()).catch(() => null)")
        page.close()
    assert watch.errors == [] and watch.outside(url) == [], (watch.errors, missing, watch.outside(url))
    assert backend in (None, "wasm")  # a bundle has no module to import; the import map's page says
    return faces


def check_astronaut(faces):
    assert len(faces) == 1, faces
    face = faces[0]
    assert list(face) == ["box", "label", "confidence", "probabilities", "detector_score"]
    assert face["label"] in CLASSES and list(face["probabilities"]) == CLASSES
    assert face["confidence"] == max(face["probabilities"].values())
    assert abs(sum(face["probabilities"].values()) - 1) < 1e-4 and 0.5 < face["detector_score"] <= 1
    x, y, w, h = ASTRONAUT_FACE
    box = face["box"]
    assert math.dist((box["x"] + box["width"] / 2, box["y"] + box["height"] / 2), (x + w / 2, y + h / 2)) < 0.25 * w
    assert 0.75 < box["width"] / w < 1.33


# no favicon request: every 404 would be the library's
PAGE = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">{head}<script type="module" src="{src}"></script>\n'


def test_esbuild_bundle_runs_the_readme_snippet(project, browser):
    out = project / "out-esbuild"
    subprocess.run([project / "node_modules/.bin/esbuild", "src/main.js", "--bundle", "--format=esm",
                    f"--outfile={out}/app.js", "--log-level=error"], cwd=project, check=True, timeout=120)
    copy_files(project, out.name)
    shutil.copy(project / "photo.jpg", out)
    (out / "index.html").write_text(PAGE.format(head="", src="app.js"))
    check_astronaut(faces_on(browser, out, "index.html"))


def test_vite_build_runs_the_readme_snippet(project, browser):
    (project / "index.html").write_text(PAGE.format(head="", src="/src/main.js"))
    copy_files(project, "public")  # Vite copies public/ into dist/
    shutil.copy(project / "photo.jpg", project / "public")
    subprocess.run([project / "node_modules/.bin/vite", "build", "--logLevel", "error"], cwd=project, check=True,
                   timeout=300, capture_output=True)
    check_astronaut(faces_on(browser, project / "dist", "index.html"))


def test_readme_import_map_runs_the_snippet_unbundled(project, browser):
    importmap = readme_block("html", "**Without a bundler**")
    (project / "unbundled.html").write_text(PAGE.format(head=importmap, src="src/main.js"))
    check_astronaut(faces_on(browser, project, "unbundled.html"))


def test_example_page_in_the_tarball_labels_a_photo(project, browser):
    with serve(project) as url:
        page = browser.new_page()
        watch = PageWatch(page)
        page.goto(f"{url}/node_modules/fer-browser/web/examples/installed.html")
        wait_js(page, "document.getElementById('status').textContent === 'ready'", timeout_s=120)
        page.set_input_files("#photo", str(project / "photo.jpg"))
        wait_js(page, "document.getElementById('status').textContent.includes('face')", timeout_s=60)
        status = page.text_content("#status")
        labels = page.eval_on_selector_all("#faces li", "(lis) => lis.map((li) => li.textContent)")
        page.close()
    assert status == "1 face(s)" and labels[0].split()[0] in CLASSES, (status, labels)
    assert watch.errors == [] and watch.outside(url) == []
