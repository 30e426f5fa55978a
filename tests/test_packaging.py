"""The package is pure Python: it builds and installs where no C compiler exists."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_builds_without_a_compiler_and_holds_no_compiled_code(tmp_path: Path) -> None:
    bare = tmp_path / "bin"  # a PATH with Python and nothing else: no cc, gcc or clang
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bare), "CC": "/nonexistent/cc", "CXX": "/nonexistent/c++"}
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "--quiet", "-w", str(tmp_path), str(ROOT)],
                           env=env, capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    [wheel] = tmp_path.glob("estimator-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")  # no platform tag: nothing compiled
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "estimator/validation.py" in names
    assert not [n for n in names if n.endswith((".so", ".c", ".pyd", ".pyx"))]
