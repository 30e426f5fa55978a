"""The fitted preprocessing, checked against a plain per-feature reading of its contract."""

from __future__ import annotations

import numpy as np
import pytest

from estimator.config import DataConfig
from estimator.data.sources import load
from estimator.errors import ConfigError
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
    filled = np.where(np.isnan(raw), pre.fill_, raw)
    derived = []
    if pre.geo_:  # the longitude axis turned toward the latitude axis
        lat, lon = filled[:, pre.geo_[0]], filled[:, pre.geo_[1]]
        derived += [lon * np.cos(np.deg2rad(a)) + lat * np.sin(np.deg2rad(a))
                    for a in pre.angles_]
    with np.errstate(divide="ignore", invalid="ignore"):
        derived += [filled[:, a] / filled[:, b] for a, b in pre.pairs_]
    for k, col in enumerate(derived):
        col = np.where(np.isfinite(col), col, pre.derived_fill_[k])
        columns.append(((col - pre.derived_mean_[k]) / pre.derived_scale_[k])[:, None])
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


def test_derived_columns_pair_counts_that_rise_together(california_gbm: VersionInfo) -> None:
    pre = Predictor.load(california_gbm.path).preprocessor
    names = pre.output_names_
    assert "longitude rotated 45° toward latitude" in names
    assert {"total_rooms / total_bedrooms", "total_rooms / households",
            "population / households"} <= set(names)
    assert not any("median_income /" in n or "/ median_income" in n for n in names)


def test_coordinates_need_a_latitude_and_a_longitude() -> None:
    schema = load(DataConfig(source="boston")).schema
    pre = Preprocessor(coordinates=True)
    with pytest.raises(ConfigError, match="latitude") as caught:
        pre.fit(schema, np.ones((5, len(schema.features))))
    assert caught.value.key == "preprocessing.coordinates"
