"""Batch estimates: score a CSV or Parquet file of any size, chunk by chunk.

Reading and writing use pandas and pyarrow; each chunk is checked by the
same rules as the service's requests (`estimator.validation`) and priced
by the same NumPy-only `Predictor`. Rows that fail validation go to an
errors file with their row number and reason; the run goes on. Outputs
are written to temporary names and renamed at the end, so a failed run
leaves no half-written file behind.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from estimator.data.sources import feature_columns, read_table
from estimator.errors import DataError
from estimator.predictor import Predictor

PARQUET = (".parquet", ".pq")


@dataclass
class BatchSummary:
    scored: int
    refused: int
    unknown_categories: int
    output: Path
    errors: Path | None
    model: str = ""


def _chunks(path: Path, size: int) -> Iterator[Any]:
    import pandas as pd

    if not path.is_file():
        read_table(path)  # raises the same one-line errors as training
    if path.suffix.lower() in PARQUET:
        import pyarrow.parquet as pq

        # pre_buffer keeps every row group read so far: memory grew by 40 MB a million rows.
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=size):
            yield batch.to_pandas()
        return
    try:
        yield from pd.read_csv(path, chunksize=size, encoding="utf-8-sig", low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"Input file '{path}' cannot be parsed: "
                        f"{str(err).splitlines()[0]}.", path=str(path)) from None


class _Writer:
    """Appends priced chunks to a CSV or Parquet file under a temporary name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.partial")
        self.parquet = path.suffix.lower() in PARQUET
        self._pq: Any = None
        self._first = True

    def write(self, frame: Any) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.parquet:
            import pyarrow.parquet as pq

            if self._pq is None:
                self._pq = pq.ParquetWriter(self.tmp, table.schema)
            self._pq.write_table(table)
            return
        import pyarrow.csv as pcsv

        with self.tmp.open("ab" if not self._first else "wb") as fh:
            pcsv.write_csv(table, fh, pcsv.WriteOptions(include_header=self._first))
        self._first = False

    def close(self, ok: bool) -> None:
        if self._pq is not None:
            self._pq.close()
        if ok and self.tmp.exists():
            os.replace(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()


@dataclass
class ScoredChunk:
    """One chunk priced: its valid rows with their estimates, and the refused rows."""

    frame: Any
    errors: list[tuple[int, str | None, str]]
    unknown_categories: int

    @property
    def scored(self) -> int:
        return len(self.frame)


def score_chunk(predictor: Predictor, chunk: Any, *, offset: int = 0, column: str | None = None,
                level: float | None = None, source: str = "The input") -> ScoredChunk:
    """Price one DataFrame chunk: the one step that every batch engine (this file loop, Dask
    partitions, Spark batches) runs, so a row gets the same verdict and price in each.

    The valid rows keep every input column and gain the estimate (and the ends of its range
    where the version is calibrated); a refused row becomes `(row, field, reason)`, `row`
    counted from `offset`. Raises DataError when the chunk lacks a feature column.
    """
    target = predictor.schema.target.name
    name = column or f"predicted_{target}"
    chunk.columns = [str(c) for c in chunk.columns]
    columns = feature_columns(chunk, predictor.schema, source=source)
    estimates, houses = predictor.predict_columns(columns, row_offset=offset, level=level)
    prices = estimates.price
    errors = [(row, houses.errors[row].field, houses.errors[row].reason)
              for row in sorted(houses.errors)]
    good = ~np.isnan(prices)
    out = chunk.loc[good].copy()
    out[name] = prices[good]
    if estimates.lower is not None and estimates.upper is not None:
        out[f"lower_{target}"] = estimates.lower[good]
        out[f"upper_{target}"] = estimates.upper[good]
    unknown = sum(note.kind == "unseen" for note in houses.notes)
    return ScoredChunk(frame=out, errors=errors, unknown_categories=unknown)


def predict_file(predictor: Predictor, input_path: str | Path, output_path: str | Path, *,
                 errors_path: str | Path | None = None, chunk_size: int = 100_000,
                 column: str | None = None, level: float | None = None) -> BatchSummary:
    """Price every row of `input_path` into `output_path`: the input columns, the estimate,
    and the ends of its range at `level` where the version is calibrated.

    Raises DataError when the file cannot be read or lacks a feature column.
    """
    src, dst = Path(input_path), Path(output_path)
    err_path = Path(errors_path) if errors_path else dst.with_name(dst.stem + ".errors.csv")
    for folder in {dst.parent, err_path.parent}:  # out/x.csv into a folder not made yet
        folder.mkdir(parents=True, exist_ok=True)
    name = column or f"predicted_{predictor.schema.target.name}"
    writer = _Writer(dst)
    err_tmp = err_path.with_name(f".{err_path.name}.partial")
    scored = refused = unknown = 0
    offset = 0
    ok = False
    try:
        with err_tmp.open("w", newline="", encoding="utf-8") as efh:
            errors = csv.writer(efh)
            errors.writerow(["row", "line", "field", "reason"])
            for chunk in _chunks(src, chunk_size):
                scored_chunk = score_chunk(predictor, chunk, offset=offset, column=name,
                                           level=level, source=f"Input file '{src}'")
                for row, field, reason in scored_chunk.errors:
                    errors.writerow([row, row + 2, field, reason])
                if len(scored_chunk.frame) or offset == 0:
                    writer.write(scored_chunk.frame)
                scored += scored_chunk.scored
                refused += len(scored_chunk.errors)
                unknown += scored_chunk.unknown_categories
                offset += len(chunk)
        ok = True
    finally:
        writer.close(ok)
        if ok and refused:
            os.replace(err_tmp, err_path)
        elif err_tmp.exists():
            err_tmp.unlink()
    return BatchSummary(scored=scored, refused=refused, unknown_categories=unknown, output=dst,
                        errors=err_path if refused else None,
                        model=f"{predictor.name}@{predictor.version}")


def explain_file(predictor: Predictor, input_path: str | Path,
                 level: float | None = None) -> list[dict[str, Any]]:
    """Per row of a (small) file: its price and range, why (contributions, comparables), or
    why it was refused. Raises DataError when the file cannot be read or lacks a feature."""
    frame = read_table(Path(input_path))
    frame.columns = [str(c) for c in frame.columns]
    columns = feature_columns(frame, predictor.schema, source=f"Input file '{input_path}'")
    estimates, houses = predictor.predict_columns(columns, level=level)
    good = [i for i in range(len(frame)) if i not in houses.errors]
    reasons = dict(zip(good, predictor.explain(houses.matrix[good]), strict=True)) if good else {}
    warnings = houses.warnings()
    out: list[dict[str, Any]] = []
    for i in range(len(frame)):
        if i in houses.errors:
            out.append({"row": i, "error": houses.errors[i].message})
            continue
        entry: dict[str, Any] = {"row": i, "price": float(estimates.price[i])}
        if estimates.lower is not None and estimates.upper is not None:
            entry.update(lower=float(estimates.lower[i]), upper=float(estimates.upper[i]))
        out.append({**entry, "warnings": warnings[i], **reasons[i]})
    return out
