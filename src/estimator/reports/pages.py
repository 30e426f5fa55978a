"""A report as two files: its facts as JSON for scripts, and a self-contained HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_pages(name: str, report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """`NAME.json` and `NAME.html` (the template `templates/NAME.html`) in `folder`."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    folder.mkdir(parents=True, exist_ok=True)
    data, page = folder / f"{name}.json", folder / f"{name}.html"
    data.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    env = Environment(loader=PackageLoader("estimator.reports", "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters["pct"] = lambda v: "-" if v is None else f"{v:.1f} %"
    page.write_text(env.get_template(f"{name}.html").render(r=report), encoding="utf-8")
    return data, page
