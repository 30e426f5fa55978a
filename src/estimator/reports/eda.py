"""The exploratory report: what the data looks like before any model is trained.

The rows are read by `estimator.data.sources`, the same code training uses,
so the kinds, missing counts and dropped rows in the report are exactly
what a model trained on this data will see. `eda` writes a self-contained
HTML page (plots embedded as PNG) and `eda.json`, the same facts for scripts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estimator import config as config_mod
from estimator.config import Config, DataConfig
from estimator.data.sources import Dataset, load, prepare
from estimator.errors import ConfigError
from estimator.reports import eda_plots

COLLINEAR = 0.8
CAP_MIN_COUNT = 10
CAP_RATIO = 5
CAP_NEIGHBOURS = 5
FAR_OUT = 3.0  # Tukey's fences for "far out" values: beyond 3 inter-quartile ranges
ID_NAME = re.compile(r"(^|[_\s.-])(id|pid|uid|key|index|order)$|^(id|pid|uid)([_\s.-]|$)|[a-z]Id$",
                     re.IGNORECASE)
YEAR_NAME = re.compile(r"year|yr|built", re.IGNORECASE)


@dataclass(frozen=True)
class EdaResult:
    """Where the report went, and the summary it was built from."""

    html: Path
    json: Path
    summary: dict[str, Any]


def eda(data: Config | DataConfig | str | Path | pd.DataFrame, target: str | None = None,
        out_dir: str | Path | None = None, *, base_dir: Path | None = None,
        collinear: float = COLLINEAR) -> EdaResult:
    """Explore the rows a config (or a file, or a frame, with `target`) points at.

    A path without `target` is read as a config file. The report goes to
    `out_dir`, by default `reports/<model name or file stem>/`. Raises
    ConfigError for a bad config, DataError for a missing or unusable file
    or an unknown target.
    """
    dataset, name, excluded = _dataset(data, target, base_dir)
    summary = summarise(dataset, name=name, excluded=excluded, collinear=collinear)
    out = Path(out_dir) if out_dir is not None else Path("reports") / name
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "eda.json", out / "eda.html"
    json_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    images = eda_plots.figures(dataset, numeric_frame(dataset), summary)
    html_path.write_text(render(summary, images), encoding="utf-8")
    return EdaResult(html=html_path, json=json_path, summary=summary)


def _dataset(data: Config | DataConfig | str | Path | pd.DataFrame, target: str | None,
             base_dir: Path | None) -> tuple[Dataset, str, list[str]]:
    """The checked rows, a name for the report folder, and the excluded columns."""
    if isinstance(data, pd.DataFrame):
        if target is None:
            raise ConfigError("A data frame needs `target`, the column to predict.", key="target")
        features = [str(c) for c in data.columns if str(c) != target]
        frame, y, schema, dropped = prepare(data, target, features)
        dataset = Dataset(frame, y, schema, {"source": "data frame", "rows": len(data)}, dropped)
        if dropped:
            dataset.notes.append(f"dropped {dropped} rows with no value in target column "
                                 f"'{target}'")
        return dataset, "data", []
    if isinstance(data, str | Path):
        path = Path(data)
        if target is None:
            cfg = config_mod.load(path)
            return _dataset(cfg, None, base_dir or path.parent)
        data = DataConfig(path=str(path), target=target)
    if isinstance(data, Config):
        name, cfg_data = data.name, data.data
    else:
        cfg_data = data
        name = "boston" if data.source == "boston" else Path(str(data.path)).stem
    return load(cfg_data, base_dir=base_dir), name, list(cfg_data.exclude)


def summarise(dataset: Dataset, name: str = "data", excluded: list[str] | None = None,
              collinear: float = COLLINEAR) -> dict[str, Any]:
    """Every fact the report shows, as plain JSON-ready values."""
    schema, frame = dataset.schema, dataset.frame
    numeric = numeric_frame(dataset)
    y = pd.Series(dataset.target, name=schema.target.name)
    corr = pd.concat([numeric, y], axis=1).corr()
    columns = [str(c) for c in corr.columns]
    matrix = [[_num(v) for v in row] for row in corr.to_numpy()]
    with_target = corr[schema.target.name].drop(schema.target.name).dropna()
    ranked = with_target.reindex(with_target.abs().sort_values(ascending=False).index)
    close = sorted(((i, j) for i in range(len(columns) - 1) for j in range(i + 1, len(columns) - 1)
                    if abs(corr.iat[i, j]) >= collinear), key=lambda ij: -abs(corr.iat[ij]))
    pairs = [{"a": columns[i], "b": columns[j], "r": _num(corr.iat[i, j])} for i, j in close]
    features = [_feature(f.name, f.kind, f.description, f.missing, frame[f.name], y,
                         numeric.get(f.name), len(frame)) for f in schema.features]
    years = year_columns(features)
    for f in features:
        f["year"] = f["name"] in years
        f["suspicious"] = suspicious(f, numeric.get(f["name"]), years, features)
    return {
        "name": name,
        "source": dataset.fingerprint,
        "rows": dataset.rows,
        "rows_dropped_missing_target": dataset.dropped_rows,
        "columns": len(schema.features) + 1,
        "kinds": {f.name: f.kind for f in schema.features},
        "missing": {f.name: f.missing for f in schema.features},
        "excluded": list(excluded or []),
        "target": _target(schema.target.name, schema.target.description, dataset.target),
        "features": features,
        "categorical": {f["name"]: {"cardinality": len(f["levels"]), "levels": f["levels"],
                                    "target_mean": f["target_mean"], "missing": f["missing"],
                                    "missing_target_mean": f.get("missing_target_mean")}
                        for f in features if f["kind"] == "categorical"},
        "correlation": {"columns": columns, "matrix": matrix},
        "target_correlation": [{"feature": str(k), "r": _num(v)} for k, v in ranked.items()],
        "collinear_threshold": collinear,
        "collinear_pairs": pairs,
        "identifiers": identifiers(frame, schema.names),
        "notes": _notes(dataset, excluded or []),
    }


def numeric_frame(dataset: Dataset) -> pd.DataFrame:
    """The non-categorical features as floats, converted as schema inference converts them."""
    cols = {f.name: pd.to_numeric(dataset.frame[f.name], errors="coerce").astype("float64")
            for f in dataset.schema.features if f.kind != "categorical"}
    return pd.DataFrame(cols, index=dataset.frame.index)


def find_cap(values: np.ndarray) -> dict[str, Any] | None:
    """The maximum, when it repeats far more often than the values just below it.

    A ceiling in the source (Boston's MEDV at 50.0, California's prices at
    500,001) piles rows up on one value; a model cannot learn what lies above it.
    """
    present = values[~np.isnan(values)]
    if not present.size:
        return None
    levels, counts = np.unique(present, return_counts=True)
    top = int(counts[-1])
    below = counts[-1 - CAP_NEIGHBOURS:-1]
    if top < CAP_MIN_COUNT or not below.size or top < CAP_RATIO * int(below.max()):
        return None
    return {"value": float(levels[-1]), "count": top, "share": top / present.size}


def identifiers(frame: pd.DataFrame, names: list[str]) -> list[dict[str, str]]:
    """Columns that look like row identifiers: a model learns nothing true from them."""
    found = []
    for name in names:
        col = frame[name].dropna()
        unique = len(col) == len(frame) and col.nunique() == len(col) and len(col) > 20 \
            and (col.dtype == object or pd.api.types.is_integer_dtype(col)
                 or bool((col % 1 == 0).all()))
        named = bool(ID_NAME.search(name))
        if unique or named:
            why = " and ".join(part for part, hit in (("unique in every row", unique),
                                                       ("named like an id", named)) if hit)
            found.append({"name": name, "why": why})
    return found


def year_columns(features: list[dict[str, Any]]) -> set[str]:
    """Whole-number columns that hold years: named so, with values in a plausible span."""
    return {f["name"] for f in features if f["kind"] == "integer" and YEAR_NAME.search(f["name"])
            and f["median"] is not None and 1000 <= f["median"] <= 3000}


def suspicious(feature: dict[str, Any], values: pd.Series | None, years: set[str],
               features: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Values that are impossible or far out: a year beyond every other date column's last
    (a garage built in 2207 in houses sold up to 2010), or beyond Tukey's far-out fences."""
    if values is None or feature["kind"] == "binary":
        return None
    present = values.dropna().to_numpy(dtype=np.float64)
    if feature["name"] in years:
        others = [f["max"] for f in features if f["name"] in years and f["name"] != feature["name"]
                  and f["max"] is not None]
        if others:
            beyond = np.sort(present[present > max(others)])[::-1]
            if beyond.size:
                return {"rule": f"after {max(others):.0f}, the last year of the other date "
                                "columns", "count": int(beyond.size),
                        "examples": [_num(v) for v in beyond[:3]]}
        return None
    q1, q3 = np.quantile(present, [0.25, 0.75])
    spread = q3 - q1
    if spread <= 0:
        return None
    low, high = q1 - FAR_OUT * spread, q3 + FAR_OUT * spread
    far = present[(present < low) | (present > high)]
    if not far.size:
        return None
    extreme = far[np.argsort(-np.abs(far - np.median(present)))]
    return {"rule": f"beyond {FAR_OUT:g} inter-quartile ranges ({_num(low)} to {_num(high)})",
            "count": int(far.size), "examples": [_num(v) for v in extreme[:3]]}


def _feature(name: str, kind: str, description: str, missing: int, col: pd.Series,
             y: pd.Series, values: pd.Series | None, rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": kind, "description": description,
                           "missing": missing, "missing_share": missing / rows if rows else 0.0}
    if values is None:
        counts = col.dropna().astype(str).value_counts()
        means = y.groupby(col.astype(str).to_numpy()).mean()
        out["levels"] = {str(k): int(v) for k, v in counts.items()}
        out["target_mean"] = {str(k): _num(means.get(k)) for k in counts.index}
        if missing:  # the missing level is a level too: how many, and what they sell for
            out["missing_target_mean"] = _num(y[col.isna().to_numpy()].mean())
        return out
    arr = values.to_numpy(dtype=np.float64)
    present = arr[~np.isnan(arr)]
    out.update(distinct=int(np.unique(present).size), min=_num(present.min()),
               max=_num(present.max()), mean=_num(present.mean()), std=_num(present.std()),
               median=_num(np.median(present)),
               capped=None if kind == "binary" else find_cap(arr))
    return out


def _target(name: str, description: str, y: np.ndarray) -> dict[str, Any]:
    counts, edges = np.histogram(y, bins=int(min(50, max(10, math.sqrt(y.size)))))
    q = np.quantile(y, [0.25, 0.5, 0.75])
    return {"name": name, "description": description, "count": int(y.size),
            "min": _num(y.min()), "p25": _num(q[0]), "median": _num(q[1]), "p75": _num(q[2]),
            "max": _num(y.max()), "mean": _num(y.mean()), "std": _num(y.std()),
            "capped": find_cap(y),
            "histogram": {"edges": [_num(e) for e in edges], "counts": counts.tolist()}}


def _notes(dataset: Dataset, excluded: list[str]) -> list[str]:
    notes = list(dataset.notes)
    if dataset.fingerprint.get("source") == "boston":
        state = ("It is excluded here." if "B" in excluded else
                 "`data: {source: boston, exclude: [B]}` trains without it.")
        notes.append("About B: it is `1000(Bk - 0.63)^2`, where Bk is the share of Black "
                     "residents in each town, a racially derived column; scikit-learn removed "
                     "the Boston data set for that reason. It is kept only because the "
                     f"article's API requires it. {state}")
    return notes


def _num(value: Any) -> float | None:
    """A JSON-safe float: NaN (a constant column's correlation) becomes null."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) or math.isinf(v) else v


def render(summary: dict[str, Any], images: dict[str, Any]) -> str:
    """The HTML page from the Jinja2 template; every image is inline, nothing is fetched."""
    from jinja2 import Environment, PackageLoader, select_autoescape
    from markupsafe import Markup, escape

    env = Environment(loader=PackageLoader("estimator.reports", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["num"] = _fmt
    env.filters["year"] = lambda value: "-" if value is None else f"{value:.0f}"
    env.filters["attr_filter"] = lambda value, name: env.filters[name](value)
    env.filters["code"] = lambda text: Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>",
                                                     str(escape(text))))
    return env.get_template("eda.html").render(s=summary, img=images)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.0f}" if abs(v) >= 10 ** digits else f"{v:.{digits}g}"
