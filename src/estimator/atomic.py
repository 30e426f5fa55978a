"""Files written so that a reader, or a writer killed midway, never sees half of one: the
content goes to a hidden sibling on disk first, then is renamed over the file at once."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary sibling, fsync it, then rename it over `path`."""
    os.replace(written_beside(path, data), path)


def written_beside(path: Path, data: Any) -> Path:
    """`data` as JSON (a str as it is) in a hidden temporary sibling of `path`, on disk."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        if isinstance(data, str):
            fh.write(data)
        else:
            json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp
