"""The reliability suite's short run: every check of benchmarks/reliability.py passes.

It starts the real service, loads it, sends it hostile bodies, kills the registry's
writers and promotes bad versions; the full run (a 10-minute soak) is the benchmark's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ["soak", "switches", "slow clients", "hostile: deep nesting, 100,000 lists",
          "hostile: 50 MB body, chunked", "hostile: Content-Type text/plain",
          "kill -9 promote", "kill -9 train", "bad weights: flipped", "bad weights: truncated",
          "bad weights: pickle"]

pytestmark = pytest.mark.slow


def test_every_reliability_check_passes_in_the_short_run(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reliability.py"),
                           "--short"], capture_output=True, text=True, cwd=tmp_path,
                          check=False, timeout=600)
    table = proc.stdout
    failed = [line for line in table.splitlines() if re.search(r"\s FAIL\s", line)]
    assert proc.returncode == 0, f"{failed}\n{table}\n{proc.stderr[-3000:]}"
    rows = {line.split("  ")[0].strip() for line in table.splitlines()
            if re.search(r"\s pass\s", line)}
    assert set(CHECKS) <= rows, table
    assert re.search(r"^(\d+) passed, 0 failed$", table, re.M), table
