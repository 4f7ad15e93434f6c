"""Progress on stderr: each step announced, then its wall time; TensorFlow's start-up noise muted."""
from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from contextlib import contextmanager


def quiet_libraries() -> None:
    """Call before TensorFlow is imported: its C++ logs, absl INFO lines and deprecation warnings
    (tensorflow-addons EOL, pkg_resources, TF-DF version) say nothing about this conversion."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # 3: also the CPU-only "cuDNN factory" errors
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger().setLevel(logging.ERROR)
    # onnx-tf's MaxPool handler sets absl's verbosity to INFO mid-export; a filter outlasts that
    logging.getLogger("absl").addFilter(lambda record: record.levelno >= logging.WARNING)


class Steps:
    """`with steps("ONNX -> SavedModel"):` prints `[2/7] ONNX -> SavedModel ... 6.4 s`."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, title: str):
        self.done += 1
        print(f"[{self.done}/{self.total}] {title} ...", file=self.stream, flush=True)
        t0 = time.perf_counter()
        yield
        self.times[title] = dt = time.perf_counter() - t0
        print(f"[{self.done}/{self.total}] {title}: done in {dt:.1f} s", file=self.stream, flush=True)
