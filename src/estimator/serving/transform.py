"""The fitted preprocessing, compiled into a few whole-matrix operations for serving.

`Preprocessor.transform` walks the features one by one, which costs more
than the model itself on a one-house request. Served rows are complete
(validation refuses nulls), so imputation never applies and the transform
is one affine map of the numeric columns plus one scatter per categorical
column. A test checks it against `Preprocessor.transform` value for value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from estimator.features import FloatArray, Preprocessor

IntArray = np.ndarray[Any, np.dtype[np.int64]]


class CompiledTransform:
    """`Preprocessor.transform` for complete raw matrices, vectorised across features."""

    def __init__(self, pre: Preprocessor) -> None:
        self.width = pre.n_outputs
        numeric_in: list[int] = []
        numeric_out: list[int] = []
        self._categorical: list[tuple[int, int, IntArray]] = []
        pos = 0
        for j, slots in enumerate(pre.slots_):
            if slots is None:
                numeric_in.append(j)
                numeric_out.append(pos)
                pos += 1
                continue
            width = max(slots) + 2 if slots and max(slots) >= 0 else 1
            lookup = np.asarray([*slots, width - 1], dtype=np.int64)
            lookup[lookup < 0] = width - 1  # unseen codes and -1 go to the unknown slot
            self._categorical.append((j, pos, lookup))
            pos += width
        self._in = np.asarray(numeric_in, dtype=np.int64)
        self._out = np.asarray(numeric_out, dtype=np.int64)
        self._mean = np.asarray(pre.mean_, dtype=np.float64)[self._in]
        self._scale = np.asarray(pre.scale_, dtype=np.float64)[self._in]
        # With numeric features only, in order, the whole transform is one affine map.
        self._affine_only = not self._categorical and numeric_out == numeric_in

    def __call__(self, raw: FloatArray) -> FloatArray:
        if self._affine_only:
            return (raw - self._mean) / self._scale
        n = raw.shape[0]
        out = np.zeros((n, self.width), dtype=np.float64)
        out[:, self._out] = (raw[:, self._in] - self._mean) / self._scale
        rows = np.arange(n)
        for j, pos, lookup in self._categorical:
            codes = raw[:, j].astype(np.int64)
            codes[codes < 0] = len(lookup) - 1
            out[rows, pos + lookup[codes]] = 1.0
        return out
