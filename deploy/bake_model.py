#!/usr/bin/env python3
"""Copy one model version out of a registry, to bake it into the serving image.

The Dockerfile's `model` stage runs this before any dependency is installed:
it resolves `--build-arg MODEL=NAME@production` (or `NAME`, `NAME@v3`, the full
version name) with the project's own registry code, which needs nothing but
the standard library, so the image and `estimator models show` can never
disagree on what a reference means. Only that version folder is copied; with
no reference the output folder stays empty, for a registry mounted at run time.

    python3 deploy/bake_model.py --registry models --out /models boston-price@production
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from estimator.errors import EstimatorError, RegistryError
from estimator.registry import Registry, VersionInfo


def bake(registry: Path, ref: str, out: Path) -> VersionInfo:
    """Copy the version `ref` names into `out`, which must be empty or absent.

    Raises ModelNotFoundError naming what the registry holds, RegistryError
    when `out` already holds files (a half-baked mix must not ship).
    """
    info = Registry(registry).resolve(ref)
    if out.exists() and any(out.iterdir()):
        raise RegistryError(f"Cannot bake {info.ref} into '{out}': the folder is not empty.")
    shutil.copytree(info.path, out, dirs_exist_ok=True)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", nargs="?", default="",
                        help="NAME, NAME@ALIAS or NAME@VERSION; empty bakes nothing")
    parser.add_argument("--registry", type=Path, default=Path("models"),
                        help="registry root (default: ./models)")
    parser.add_argument("--out", type=Path, required=True, help="folder to copy the version to")
    args = parser.parse_args(argv)
    if not args.ref:
        args.out.mkdir(parents=True, exist_ok=True)
        print("no model baked in: mount a registry and set MODEL_FOLDER at run time")
        return 0
    try:
        info = bake(args.registry, args.ref, args.out)
    except EstimatorError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return err.exit_code
    print(f"baked {info.ref} (asked for {args.ref}) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
