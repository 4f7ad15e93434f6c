"""Run one of tests/js/*.test.mjs under `node --test` and check that it ran and passed."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_node_suite(name: str, passes: int | None = None) -> str:
    """Assert tests/js/NAME passes (exactly `passes` tests when given, else at least one); returns the TAP."""
    node = shutil.which("node")
    assert node, "node (20+) is needed for the JS tests"
    proc = subprocess.run([node, "--test", "--test-reporter=tap", str(ROOT / "tests/js" / name)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    passed = int(re.search(r"^# pass (\d+)$", proc.stdout, re.M).group(1))
    assert "# fail 0" in proc.stdout and (passed == passes if passes is not None else passed > 0), proc.stdout[-2000:]
    return proc.stdout
