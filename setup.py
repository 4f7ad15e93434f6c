"""Build hook for `pip install .`: the wheel also carries the page (web/), the shipped model's
export (its run-time files: not fer_browser/paths.py EXPORT_BUILD_ONLY), predict's face detector
(models/blazeface/) and the npm files the page loads (only those listed in fer_browser/paths.py
VENDOR, with their licence texts), under fer_browser/ in the same layout as
the checkout. Everything else is declared in pyproject.toml.

Without node_modules (no `npm ci` before the build) the wheel still builds, without the npm files;
the installed fer-serve then says so in one line (fer-predict and the Recognizer do not need them).
"""
import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
# npm package folder -> its licence text (the tfjs packages ship none in their npm tarballs)
LICENCES = {
    "@tensorflow/tfjs": HERE / "LICENSES" / "Apache-2.0.txt",
    "@tensorflow/tfjs-backend-wasm": HERE / "LICENSES" / "Apache-2.0.txt",
    "@tensorflow/tfjs-core": HERE / "LICENSES" / "Apache-2.0.txt",
    "@tensorflow/tfjs-converter": HERE / "LICENSES" / "Apache-2.0.txt",
    "@tensorflow/tfjs-backend-webgl": HERE / "LICENSES" / "Apache-2.0.txt",
}


def _paths():
    """fer_browser/paths.py, loaded by file: standard library only, and the package is not installed yet."""
    spec = importlib.util.spec_from_file_location("_fer_paths", HERE / "fer_browser" / "paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_files() -> list[tuple[Path, str]]:
    """(source, destination relative to the package) for every data file the wheel carries."""
    paths = _paths()
    out = []
    # BlazeFace's folder is the repository's own (TF.js weights for the page, the ONNX file for predict,
    # NOTICE.md with their licences); build-only files of the export stay out
    for folder in (paths.WEB_DIR, paths.DEFAULT_MODEL_DIR, paths.BLAZEFACE_ONNX.parent):
        out += [(p, p.relative_to(paths.ROOT).as_posix()) for p in sorted(folder.rglob("*")) if p.is_file()
                and not (folder == paths.DEFAULT_MODEL_DIR and paths.build_only(p.relative_to(folder).as_posix()))]
    missing = paths.missing_vendor_files()
    if missing:
        print(f"warning: {missing[0]} is missing (run `npm ci` first): the wheel will not carry the "
              f"page's npm files, and the installed server will refuse to start")
        return out
    for folder, names in paths.VENDOR.values():
        if paths.NODE_MODULES not in folder.parents:
            continue  # already listed above
        out += [(folder / n, (folder / n).relative_to(paths.ROOT).as_posix()) for n in sorted(names)]
    for package, text in LICENCES.items():
        out.append((text, f"node_modules/{package}/LICENSE"))
    return out


class build_py_with_data(build_py):
    def run(self):
        target = Path(self.build_lib) / "fer_browser"
        shutil.rmtree(target, ignore_errors=True)  # pip builds in-tree: never ship an earlier build's files
        super().run()
        for source, rel in data_files():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / rel)


class sdist_with_npm_files(sdist):
    """The source distribution carries the npm files too, so a wheel built from it is complete."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        for source, _ in data_files():
            rel = source.relative_to(HERE)
            if rel.parts[0] == "node_modules":
                (Path(base_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, Path(base_dir) / rel)


setup(cmdclass={"build_py": build_py_with_data, "sdist": sdist_with_npm_files})
