"""Reading rows: the bundled Boston data, CSV and Parquet files.

Real files are messy, so reading is forgiving where it can be (a UTF-8
BOM, `NA` and empty cells, integer columns with holes) and strict where
guessing would hide a mistake (an unknown target, a text target, a column
with no value at all). Rows with no target are dropped and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estimator.config import DataConfig
from estimator.data import boston
from estimator.data.infer import infer_schema
from estimator.errors import DataError
from estimator.schema import Schema

MIN_ROWS = 20


@dataclass
class Dataset:
    """Features in schema order, the target, and where they came from."""

    frame: pd.DataFrame
    target: np.ndarray
    schema: Schema
    fingerprint: dict[str, Any]
    dropped_rows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.frame)


def read_table(path: str | Path, text: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with one clear error if it cannot be.

    Columns named in `text` are read as text (ids whose leading zeros matter).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"Data file '{p}' does not exist.", path=str(p))
    if p.is_dir():
        raise DataError(f"Data file '{p}' is a folder, not a file.", path=str(p))
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p, encoding="utf-8-sig", sep=None if suffix == ".txt" else ",",
                           engine="python" if suffix == ".txt" else "c", low_memory=False,
                           dtype=dict.fromkeys(text, str) or None)
    except PermissionError:
        raise DataError(f"Data file '{p}' cannot be read: permission denied.",
                        path=str(p)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"Data file '{p}' is empty.", path=str(p)) from None
    except UnicodeDecodeError:
        raise DataError(f"Data file '{p}' is not UTF-8 text; save it as UTF-8 CSV.",
                        path=str(p)) from None
    except (pd.errors.ParserError, ValueError, OSError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"Data file '{p}' cannot be parsed: {first}.", path=str(p)) from None


def feature_columns(frame: pd.DataFrame, schema: Schema,
                    source: str = "The data") -> dict[str, list[Any]]:
    """A table's feature columns as the validator takes them: lists, a gap as None.

    A file holds text where JSON holds types, so the decoding is done here: a
    number column that pandas read as text (because of one stray word) is
    parsed, leaving the words for the validator to name; true/false become
    1 and 0; a category written as a number becomes its text.
    Raises DataError naming the feature columns the table lacks.
    """
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise DataError(f"{source} lacks feature columns {missing}.", column=missing[0])
    out: dict[str, list[Any]] = {}
    for feature in schema.features:
        col = frame[feature.name]
        present = col.notna()
        if feature.kind == "categorical":
            col = col.where(~present, col.astype(str))
        elif pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        elif not pd.api.types.is_numeric_dtype(col):
            parsed = pd.to_numeric(col, errors="coerce")
            col = parsed.astype(object).where(parsed.notna() | ~present, col)
        out[feature.name] = col.astype(object).where(present, None).tolist()
    return out


def _file_fingerprint(path: Path, frame: pd.DataFrame) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"source": str(path), "sha256": digest.hexdigest(), "rows": len(frame),
            "columns": [str(c) for c in frame.columns]}


def _boston() -> tuple[pd.DataFrame, str, dict[str, Any]]:
    frame = pd.read_csv(boston.csv_path(), header=None, names=[*boston.COLUMNS, boston.TARGET])
    fp = {"source": "boston", "sha256": boston.sha256(), "rows": len(frame),
          "columns": [*boston.COLUMNS, boston.TARGET]}
    return frame, boston.TARGET, fp


def _select_features(frame: pd.DataFrame, target: str, cfg: DataConfig) -> list[str]:
    columns = [str(c) for c in frame.columns if str(c) != target]
    if cfg.include is not None:
        unknown = [c for c in cfg.include if c not in columns]
        if unknown:
            raise DataError(f"data.include names unknown columns {unknown}; "
                            f"the file has {columns}.", column=unknown[0])
        columns = list(cfg.include)
    unknown = [c for c in cfg.exclude if c not in frame.columns]
    if unknown:
        raise DataError(f"data.exclude names unknown columns {unknown}.", column=unknown[0])
    return [c for c in columns if c not in cfg.exclude]


def prepare(frame: pd.DataFrame, target: str, features: list[str],
            descriptions: dict[str, str] | None = None) -> tuple[pd.DataFrame, np.ndarray,
                                                                 Schema, int]:
    """Check a raw table and split it into features, target and schema.

    Raises DataError for an unknown or non-numeric target, an empty feature
    column, or fewer than MIN_ROWS rows with a target.
    """
    frame = frame.rename(columns=str)
    if target not in frame.columns:
        raise DataError(f"Target column '{target}' is not in the data; columns are "
                        f"{list(frame.columns)}.", column=target)
    y_raw = frame[target]
    y = pd.to_numeric(y_raw, errors="coerce")
    bad = y.isna() & y_raw.notna()
    if bad.any():
        example = y_raw[bad].iloc[0]
        raise DataError(f"Target column '{target}' must be numeric; row {int(bad.idxmax())} "
                        f"holds {example!r}.", column=target)
    keep = y.notna().to_numpy()
    dropped = int((~keep).sum())
    features_frame = frame.loc[keep, features].reset_index(drop=True)
    y_values = y[keep].to_numpy(dtype=np.float64)
    if len(features_frame) < MIN_ROWS:
        raise DataError(f"Only {len(features_frame)} rows have a target; at least {MIN_ROWS} "
                        "are needed to train.", column=target)
    if not np.isfinite(y_values).all():
        raise DataError(f"Target column '{target}' holds infinite values.", column=target)
    empty = [c for c in features if features_frame[c].isna().all()]
    if empty:
        raise DataError(f"Feature column '{empty[0]}' is entirely empty; drop it or list it in "
                        "data.exclude.", column=empty[0])
    schema = infer_schema(features_frame, y_values, target, descriptions or {})
    return features_frame, y_values, schema, dropped


def load(cfg: DataConfig, base_dir: Path | None = None) -> Dataset:
    """Load the rows a config points at, checked and with their schema.

    Relative paths are taken from `base_dir` (the config file's folder) when
    the file is not found from the working directory.
    """
    descriptions: dict[str, str] = {}
    unit = cfg.unit or ""
    if cfg.source == "boston":
        frame, target, fp = _boston()
        descriptions = boston.DESCRIPTIONS
        unit = cfg.unit or boston.UNIT
    else:
        assert cfg.path is not None and cfg.target is not None
        path = Path(cfg.path)
        if not path.is_absolute() and not path.exists() and base_dir is not None:
            path = base_dir / path
        frame = read_table(path)
        target = cfg.target
        fp = _file_fingerprint(path, frame)
    features = _select_features(frame.rename(columns=str), target, cfg)
    if not features:
        raise DataError("No feature columns are left after include/exclude.")
    feats, y, schema, dropped = prepare(frame, target, features, descriptions)
    schema = replace(schema, target=replace(schema.target, unit=unit))
    notes = []
    if dropped:
        notes.append(f"dropped {dropped} rows with no value in target column '{target}'")
    return Dataset(frame=feats, target=y, schema=schema, fingerprint=fp, dropped_rows=dropped,
                   notes=notes)
