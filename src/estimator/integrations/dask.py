"""`estimator predict --engine dask`: batch estimates for inputs larger than one machine.

The input (a CSV or Parquet file, a folder of them, or a glob) is read by
dask.dataframe; each partition is priced on a worker by `batch.score_chunk`,
the plain file loop's own step, and written as one Parquet part, in input
order. The folder of parts is assembled under a temporary name and renamed
once every partition is done, so a failed run leaves yesterday's output as it
was. Refused rows go to one CSV numbered across the whole input, as the plain
path numbers them. Workers get the version folder's path, resolved once, so an
alias moving mid-run changes nothing; every worker must see input, output and
registry."""

from __future__ import annotations

import contextlib
import csv
import glob
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from estimator.batch import PARQUET, BatchSummary, score_chunk
from estimator.errors import ConfigError, DataError
from estimator.integrations import loaded
from estimator.predictor import Predictor, version_folder
from estimator.schema import Schema

CSV = (".csv", ".txt")
ERRORS_DIR = "_errors"
_PART = "part-{:05d}"
_SUMMARY = {"partition": "int64", "rows": "int64", "scored": "int64", "refused": "int64",
            "unknown": "int64"}


def input_files(source: str | Path) -> list[Path]:
    """The files a source names: one file, a folder's CSV or Parquet files, or a glob.

    Raises DataError when it names nothing, or mixes CSV and Parquet.
    """
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in PARQUET + CSV)
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
    if not files:
        raise DataError(f"Input '{text}' matches no CSV or Parquet file.", path=text)
    kinds = {"parquet" if p.suffix.lower() in PARQUET else "csv" for p in files}
    if len(kinds) > 1:
        raise DataError(f"Input '{text}' mixes CSV and Parquet files; score each kind on its "
                        "own.", path=text)
    return files


def _check_columns(files: list[Path], schema: Schema) -> None:
    """Every file has every feature column, from its header or Parquet footer alone, so that a
    wrong file stops the run before any work, named.

    Raises DataError naming the file and the columns it lacks.
    """
    import pyarrow.parquet as pq

    for path in files:
        if path.suffix.lower() in PARQUET:
            names = set(pq.read_schema(path).names)
        else:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                names = set(next(csv.reader(fh), []))
        missing = [name for name in schema.names if name not in names]
        if missing:
            raise DataError(f"Input file '{path}' lacks feature columns {missing}.",
                            path=str(path), column=missing[0])


def _read(files: list[Path], blocksize: int | str) -> Any:
    """A dask DataFrame over the files; CSV cells are read as text so that a stray word in
    a number column is refused by the validator, not a crash halfway through the run."""
    import dask.dataframe as dd

    names = [str(p) for p in files]
    if files[0].suffix.lower() in PARQUET:
        # A partition per row group: the unit the writer sized to be read at once, and
        # enough of them for every worker (combined to `blocksize`, a 1M-row file of two
        # row groups would be one partition, priced by one worker).
        return dd.read_parquet(names, split_row_groups=True)
    return dd.read_csv(names, blocksize=blocksize, dtype=str, encoding="utf-8-sig",
                       keep_default_na=True)


def _output_schema(predictor: Predictor, files: list[Path], sample: Any, column: str) -> Any:
    """The Arrow schema every part is written with, so that the parts make one table: the
    input's own types (text for CSV), numeric features read as text made numbers, and the
    estimate columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    numeric = {f.name for f in predictor.schema.features if f.kind != "categorical"}
    if files[0].suffix.lower() in PARQUET:
        source = pq.read_schema(files[0])
        fields = [source.field(name) for name in source.names
                  if not name.startswith("__index_level_")]
    else:
        fields = [pa.field(str(name), pa.string()) for name in sample.columns]
    fields = [pa.field(f.name, pa.float64()) if f.name in numeric and
              not (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
                   or pa.types.is_boolean(f.type)) else f for f in fields]
    target = predictor.schema.target.name
    added = [column]
    if predictor.calibration is not None:
        added += [f"lower_{target}", f"upper_{target}"]
    return pa.schema([*fields, *(pa.field(name, pa.float64()) for name in added)])


def _score_partition(frame: Any, folder: str, out_dir: str, schema: Any, column: str,
                     level: float | None, chunk_size: int,
                     partition_info: dict[str, Any] | None = None) -> Any:
    """Price one partition on a worker, `chunk_size` rows at a time (a partition may be a
    Parquet row group of millions of rows; validation holds Python objects per row), write
    its part, and answer its counts."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = int(partition_info["number"]) if partition_info else 0
    predictor = loaded(folder)
    part = Path(out_dir) / (_PART.format(number) + ".parquet")
    partial = part.with_name("." + part.name)
    errors: list[tuple[int, str | None, str]] = []
    scored = unknown = 0
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, max(len(frame), 1), chunk_size):
            chunk = score_chunk(predictor, frame.iloc[start:start + chunk_size], offset=start,
                                column=column, level=level, source="The input")
            out = chunk.frame
            for name in schema.names:
                if pa.types.is_floating(schema.field(name).type) and \
                        not pd.api.types.is_numeric_dtype(out[name]):
                    out[name] = pd.to_numeric(out[name], errors="coerce")
            writer.write_table(pa.Table.from_pandas(out[schema.names], schema=schema,
                                                    preserve_index=False))
            errors += chunk.errors
            scored += chunk.scored
            unknown += chunk.unknown_categories
    os.replace(partial, part)  # a retried task replaces its part, never doubles it
    if errors:
        with (Path(out_dir) / ERRORS_DIR / (_PART.format(number) + ".csv")).open(
                "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(errors)
    counts = [number, len(frame), scored, len(errors), unknown]
    return pd.DataFrame([counts], columns=list(_SUMMARY)).astype(_SUMMARY).set_index(
        pd.Index(np.array([number]), dtype="int64"))


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A client of the scheduler at `scheduler`, or of a local cluster of worker processes
    (one thread each: the predictor is NumPy-bound and XGBoost threads itself)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"Cannot reach the Dask scheduler at {scheduler}: "
                              f"{str(err).splitlines()[0]}.", key="--scheduler",
                              value=scheduler) from None
        with client:
            yield client
        return
    import dask

    n = workers or max(1, min(os.cpu_count() or 1, 4))
    # One partition per worker thread at a time: at the default saturation (1.1) a worker
    # of one thread is handed two, and a run of few partitions leaves a worker idle.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1,  # type: ignore[no-untyped-call]
                               processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def _prepare(output: Path) -> Path:
    """The temporary folder the run assembles; refuses to replace what is not ours."""
    if output.suffix.lower() in CSV:
        raise DataError(f"Output '{output}' names a CSV file; the Dask engine writes a folder "
                        "of Parquet parts: name a folder, such as estimates/.", path=str(output))
    if output.is_file():
        raise DataError(f"Output '{output}' is a file; the Dask engine writes a folder of "
                        "Parquet parts.", path=str(output))
    if output.is_dir():
        foreign = [p.name for p in output.iterdir()
                   if not (p.name.startswith("part-") and p.suffix == ".parquet")]
        if foreign:
            raise DataError(f"Output folder '{output}' holds files that are not estimates "
                            f"({', '.join(sorted(foreign)[:3])}); choose an empty or new "
                            "folder.", path=str(output))
    tmp = output.with_name(f".{output.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / ERRORS_DIR).mkdir(parents=True)
    return tmp


def _gather_errors(tmp: Path, counts: Any, errors_path: Path, single_file: bool) -> None:
    """One errors CSV, rows numbered across the input: each partition's part, offset by the
    rows of the partitions before it, streamed so that memory holds one part at a time."""
    offsets = counts["rows"].cumsum() - counts["rows"]
    partial = errors_path.with_name(f".{errors_path.name}.partial")
    with partial.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["row", "line", "field", "reason"])
        for number, offset in zip(counts["partition"], offsets, strict=True):
            part = tmp / ERRORS_DIR / (_PART.format(int(number)) + ".csv")
            if not part.exists():
                continue
            with part.open(newline="", encoding="utf-8") as pf:
                for row, field, reason in csv.reader(pf):
                    at = int(row) + int(offset)
                    out.writerow([at, at + 2 if single_file else "", field, reason])
    os.replace(partial, errors_path)


def predict_dask(model: str | Path, source: str | Path, output: str | Path, *,
                 registry: str | Path | None = None, errors_path: str | Path | None = None,
                 scheduler: str | None = None, workers: int | None = None,
                 blocksize: int | str = "64MiB", chunk_size: int = 100_000,
                 column: str | None = None,
                 level: float | None = None) -> BatchSummary:
    """Price every row of `source` on a Dask cluster into the folder `output`.

    `scheduler` is a scheduler address (tcp://host:8786); without one a local cluster of
    `workers` processes is started for the run. `blocksize` sizes the partitions of a CSV
    input (Parquet is split by row group); a worker validates and prices `chunk_size` rows
    at a time. Raises DataError for an input that names no file or lacks a feature column,
    ModelNotFoundError for an unknown model, and ConfigError when Dask is not installed or
    the scheduler cannot be reached.
    """
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("The Dask engine needs Dask: pip install 'estimator[dask]'.",
                          key="--engine", value="dask") from None
    if scheduler and workers:
        raise ConfigError("--workers sizes the local cluster; a scheduler's workers are its "
                          "own.", key="--workers")
    folder = version_folder(model, registry)
    predictor = loaded(str(folder))
    files = input_files(source)
    dst = Path(output)
    err_path = Path(errors_path) if errors_path else dst.with_name(dst.name + ".errors.csv")
    name = column or f"predicted_{predictor.schema.target.name}"
    _check_columns(files, predictor.schema)
    frame = _read(files, blocksize)
    schema = _output_schema(predictor, files, frame._meta, name)
    dst.parent.mkdir(parents=True, exist_ok=True)
    err_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _prepare(dst)
    try:
        with _client(scheduler, workers):
            counts = frame.map_partitions(
                _score_partition, str(folder), str(tmp.resolve()), schema, name, level,
                chunk_size, meta=_empty_summary(), enforce_metadata=False).compute()
        counts = counts.sort_values("partition")
        refused = int(counts["refused"].sum())
        if refused:
            _gather_errors(tmp, counts, err_path, single_file=len(files) == 1)
        elif err_path.exists():
            err_path.unlink()  # yesterday's refusals do not describe today's run
        shutil.rmtree(tmp / ERRORS_DIR)
        _swap(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BatchSummary(scored=int(counts["scored"].sum()), refused=refused,
                        unknown_categories=int(counts["unknown"].sum()), output=dst,
                        errors=err_path if refused else None,
                        model=f"{predictor.name}@{predictor.version}")


def _empty_summary() -> Any:
    import pandas as pd

    return pd.DataFrame({k: pd.Series([], dtype=v) for k, v in _SUMMARY.items()})


def _swap(tmp: Path, dst: Path) -> None:
    """Put the finished folder in place of the old one; the old one is removed after."""
    old = dst.with_name(f".{dst.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        os.replace(dst, old)
    os.replace(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)
