"""The installed console commands (pyproject.toml [project.scripts]): each runs an existing CLI's main.

Each command needs its extra (`pip install "fer-browser[predict]"` ...). A command whose extra is
missing says so in one line, `--help` included, instead of ending in an ImportError traceback.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

# command -> (module whose main() it runs, the extra that installs what it imports)
COMMANDS = {
    "fer-train": ("fer_browser.training.train", "train"),
    "fer-evaluate": ("fer_browser.training.evaluate", "train"),
    "fer-convert": ("fer_browser.convert.__main__", "convert"),
    "fer-predict": ("fer_browser.predict.__main__", "predict"),
    "fer-serve": ("fer_browser.server", "serve"),
}
# tensorflowjs is installed apart: its own dependencies resolve to a pair that crashes at import
NODEPS = {"tensorflowjs": 'pip install --no-deps tensorflowjs==4.22.0'}


def prog(default: str) -> str:
    """The name that --help and errors show: the installed command when run as one (`fer-predict`),
    else how the module was started (`default`, e.g. "python -m predict")."""
    name = Path(sys.argv[0]).name
    return name if name in COMMANDS else default


# module run with `python -m` in a checkout -> its installed command
INSTALLED = {"training.train": "fer-train", "training.evaluate": "fer-evaluate", "convert": "fer-convert",
             "predict": "fer-predict", "server": "fer-serve"}


def command(module: str) -> str:
    """How a message names another command: `fer-convert` when running installed (an installed
    command, or the package outside a checkout), else `python -m convert` as in the checkout."""
    from .paths import IN_CHECKOUT

    if module in INSTALLED and (Path(sys.argv[0]).name in COMMANDS or not IN_CHECKOUT):
        return INSTALLED[module]
    return f"python -m {module}"


def reconvert_hint(source) -> str:
    """What to run after a checkpoint's metadata changed, so its export carries the change."""
    return f"re-run `{command('convert')} {source} --out DIR` so the export carries it"


def os_error(exc: OSError) -> str:
    """One line for a file the OS refused ("runs/x: Permission denied"), without the errno noise."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def error(exc: Exception) -> int:
    """Print a CLI's one-line `error: ...` for an expected failure (bad input, a refused file); return 2."""
    print(f"error: {os_error(exc) if isinstance(exc, OSError) else exc}", file=sys.stderr)
    return 2


def _missing(command: str, extra: str, exc: ModuleNotFoundError) -> int | None:
    """The one-line error for a third-party module that is not installed; None for anything else."""
    top = (exc.name or "").partition(".")[0]
    if not top or top == "fer_browser":
        return None
    fix = NODEPS.get(top, f'pip install "fer-browser[{extra}]"')
    print(f"{command}: error: this command needs the '{extra}' extra (no module named {top!r}); "
          f"install it with: {fix}", file=sys.stderr)
    return 2


def run(command: str, argv: list[str] | None = None) -> int:
    module, extra = COMMANDS[command]
    try:
        return importlib.import_module(module).main(argv)
    except ModuleNotFoundError as exc:  # at import, or a lazy import inside main
        code = _missing(command, extra, exc)
        if code is None:
            raise
        return code


def train() -> int:
    return run("fer-train")


def evaluate() -> int:
    return run("fer-evaluate")


def convert() -> int:
    return run("fer-convert")


def predict() -> int:
    return run("fer-predict")


def serve() -> int:
    return run("fer-serve")
