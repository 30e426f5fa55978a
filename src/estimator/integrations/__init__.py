"""Batch scoring on engines that already spread work over many machines.

    estimator.integrations.dask    `estimator predict --engine dask`: partitions on a cluster
    estimator.integrations.spark   `price_udf`: a pandas UDF for a PySpark job

Both price through `estimator.batch.score_chunk`, the step the plain file loop runs, so a
row gets the same verdict and the same price on every engine. Workers receive the path
of a version folder (on storage they all see), never the model's weights, and load it
once per process (`loaded`). Neither engine is imported until it is used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from estimator.predictor import Predictor


@lru_cache(maxsize=4)
def loaded(folder: str) -> Predictor:
    """The version in `folder`, loaded (and its checksums verified) once per process.

    Raises ModelLoadError when the folder is missing or corrupt on this worker.
    """
    return Predictor.load(Path(folder))
