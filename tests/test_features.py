"""The fitted preprocessing, checked against a plain per-feature reading of its contract."""

from __future__ import annotations

import numpy as np

from estimator.features import Preprocessor
from estimator.predictor import Predictor
from estimator.registry import VersionInfo


def reference(pre: Preprocessor, raw: np.ndarray) -> np.ndarray:
    """Impute, standardise, one-hot with an unknown slot: one feature at a time."""
    columns = []
    for j, slots in enumerate(pre.slots_):
        col = np.where(np.isnan(raw[:, j]), pre.fill_[j], raw[:, j])
        if slots is None:
            columns.append(((col - pre.mean_[j]) / pre.scale_[j])[:, None])
            continue
        width = max(slots) + 2
        block = np.zeros((len(col), width))
        for i, code in enumerate(col.astype(int)):
            slot = slots[code] if 0 <= code < len(slots) else -1
            block[i, slot if slot >= 0 else width - 1] = 1.0
        columns.append(block)
    return np.hstack(columns)


def test_transform_matches_the_reference(boston_mlp: VersionInfo,
                                         california_gbm: VersionInfo) -> None:
    rng = np.random.default_rng(0)
    for version in (boston_mlp, california_gbm):
        predictor = Predictor.load(version.path)
        pre, feats = predictor.preprocessor, predictor.schema.features
        raw = rng.normal(size=(300, len(feats))) * 100
        for j, f in enumerate(feats):
            if f.kind == "categorical":  # known codes, -1 for unseen, one beyond the list
                raw[:, j] = rng.integers(-1, len(f.categories) + 1, 300)
        raw[rng.random(raw.shape) < 0.05] = np.nan
        out = pre.transform(raw)
        assert out.shape == (300, pre.n_outputs)
        assert np.array_equal(out, reference(pre, raw))


def test_saved_state_has_no_cache(boston_mlp: VersionInfo) -> None:
    pre = Predictor.load(boston_mlp.path).preprocessor
    pre.transform(np.zeros((1, len(pre.slots_))))
    assert Preprocessor.from_dict(pre.to_dict()).to_dict() == pre.to_dict()
    assert not any(k.startswith("_") for k in pre.to_dict())
