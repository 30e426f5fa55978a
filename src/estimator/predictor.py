"""Loading a model version and predicting with NumPy (and XGBoost) alone.

This is the one prediction path: the API, batch scoring and evaluation
all go through `Predictor`. It imports neither pandas nor PyTorch, and
loading reads JSON, .npz (allow_pickle=False) and XGBoost JSON only, after
checking every file against the sha256 recorded when the version was
written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from estimator.errors import ModelLoadError
from estimator.explain import TRAINING_FILE, Explainer
from estimator.features import FloatArray, Preprocessor
from estimator.intervals import CALIBRATION_FILE, Calibration
from estimator.models import Model, load_model
from estimator.profile import REFERENCE_FILE, Reference
from estimator.schema import Schema
from estimator.validation import HouseRules, Houses

SCHEMA_FILE = "schema.json"
PREPROCESSING_FILE = "preprocessing.json"
MODEL_DIR = "model"


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under a version folder, by relative path."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "version.json":
            out[p.relative_to(folder).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class Estimates:
    """Prices, and the ends of their ranges when the version is calibrated."""

    price: FloatArray
    lower: FloatArray | None = None
    upper: FloatArray | None = None
    predicted: FloatArray | None = None  # the model's output (log price for a log target)


@dataclass
class Predictor:
    """A loaded model version: schema, fitted preprocessing and model."""

    schema: Schema
    preprocessor: Preprocessor
    model: Model
    meta: dict[str, Any]
    calibration: Calibration | None = None
    explainer: Explainer | None = None
    reference: Reference | None = None
    rules: HouseRules = field(init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "model"))

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unsaved"))

    @classmethod
    def load(cls, folder: str | Path, verify: bool = True) -> Predictor:
        """Read a version folder, refusing a missing, altered or corrupt file.

        Raises ModelLoadError with the file at fault.
        """
        root = Path(folder)
        meta_path = root / "version.json"
        if not meta_path.is_file():
            raise ModelLoadError(f"'{root}' is not a model version: version.json is missing.")
        try:
            meta = json.loads(meta_path.read_text())
            if verify:
                for rel, digest in meta.get("files", {}).items():
                    path = root / rel
                    if not path.is_file():
                        raise ModelLoadError(f"Model version '{root}' is incomplete: {rel} is "
                                             "missing.")
                    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                        raise ModelLoadError(f"Model version '{root}' is corrupt: {rel} does "
                                             "not match its recorded checksum.")
            schema = Schema.from_dict(json.loads((root / SCHEMA_FILE).read_text()))
            pre = Preprocessor.from_dict(json.loads((root / PREPROCESSING_FILE).read_text()))
            model = load_model(root / MODEL_DIR, str(meta["family"]))
            calibrated = root / CALIBRATION_FILE  # versions saved before ranges have none
            calibration = (Calibration.from_dict(json.loads(calibrated.read_text()))
                           if calibrated.is_file() else None)
            explainer = (Explainer.load(root, schema, pre, model)
                         if (root / TRAINING_FILE).is_file() else None)
            profiled = root / REFERENCE_FILE
            reference = (Reference.from_dict(json.loads(profiled.read_text()))
                         if profiled.is_file() else None)
        except ModelLoadError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelLoadError(f"Model version '{root}' cannot be loaded: "
                                 f"{type(err).__name__}: {err}.") from None
        except Exception as err:  # XGBoost raises its own error type for a corrupt booster
            raise ModelLoadError(f"Model version '{root}' cannot be loaded: "
                                 f"{type(err).__name__}: {str(err).splitlines()[0]}.") from None
        if len(pre.kinds_) != len(schema.features):
            raise ModelLoadError(f"Model version '{root}' is inconsistent: the preprocessing "
                                 "and the schema disagree on the features.")
        return cls(schema=schema, preprocessor=pre, model=model, meta=meta,
                   calibration=calibration, explainer=explainer, reference=reference)

    def __post_init__(self) -> None:
        self.rules = HouseRules(self.schema, fills=self.preprocessor.fill_)

    def predict_matrix(self, raw: FloatArray) -> FloatArray:
        """Prices for a raw matrix packed by `validation`, gaps imputed as in training.

        Every path (the service, batch scoring, evaluation) prices here, so
        a price cannot depend on which of them computed it.
        """
        return self.estimate(raw, ranges=False).price

    def estimate(self, raw: FloatArray, level: float | None = None, *,
                 ranges: bool = True) -> Estimates:
        """Prices and, where the version is calibrated and `ranges` asked, their ranges at
        `level` (the calibrated default when None).

        Raises ValidationError for a level outside (0, 1).
        """
        x = self.preprocessor.transform(raw)
        predicted = self.model.predict(x)
        price = self.preprocessor.inverse_target(predicted)
        if self.calibration is None or not ranges:
            return Estimates(price=price, predicted=predicted)
        reach = self.calibration.halfwidth(x, predicted, level)
        return Estimates(price=price,
                         lower=self.preprocessor.inverse_target(predicted - reach),
                         upper=self.preprocessor.inverse_target(predicted + reach),
                         predicted=predicted)

    def explain(self, raw: FloatArray, predicted: FloatArray | None = None,
                ) -> list[dict[str, Any]]:
        """Per house: the base value, each feature's contribution (price units, summing
        with the base to the price) and the most similar training houses. `predicted`:
        `Estimates.predicted` of the same houses, when they were just priced.

        Raises ModelLoadError for a version saved without its training houses, and
        ValidationError for a house too extreme to explain.
        """
        if self.explainer is None:
            raise ModelLoadError(f"{self.name}@{self.version} was saved without its training "
                                 "houses; retrain it to explain its estimates.")
        with np.errstate(over="ignore", invalid="ignore"):
            base, parts = self.explainer.contributions(raw, predicted)
        finite = np.isfinite(parts).all(axis=1) & np.isfinite(base)
        if not finite.all():
            raise self.rules.too_far(raw, int(np.flatnonzero(~finite)[0]), "explain")
        names = self.schema.names
        return [{"base": float(b), "contributions": dict(zip(names, p.tolist(), strict=True)),
                 "comparables": c}
                for b, p, c in zip(base, parts, self.explainer.comparables(raw), strict=True)]

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """Prices for row objects; raises ValidationError naming the first bad row and field."""
        return self.predict_matrix(self.rules.rows(rows).matrix)

    def predict_columns(self, columns: Mapping[str, list[Any]], *, row_offset: int = 0,
                        level: float | None = None) -> tuple[Estimates, Houses]:
        """Estimates for columns (a batch file's chunk); a refused row gets NaN and an error."""
        houses = self.rules.columns(columns, row_offset=row_offset)
        n = houses.matrix.shape[0]
        good = np.ones(n, dtype=bool)
        good[[row - row_offset for row in houses.errors]] = False
        out = Estimates(price=np.full(n, np.nan))
        if good.any():
            found = self.estimate(houses.matrix[good], level)
            out.price[good] = found.price
            if found.lower is not None and found.upper is not None:
                out.lower, out.upper = np.full(n, np.nan), np.full(n, np.nan)
                out.lower[good], out.upper[good] = found.lower, found.upper
        return out, houses


def version_folder(ref_or_folder: str | Path, registry: str | Path | None = None) -> Path:
    """The folder of a version, from its path or a registry reference (NAME[@VERSION|@ALIAS]).

    Distributed engines resolve a reference once, here, and send workers the folder: every
    worker then loads the same version even if an alias moves during the run.
    Raises ModelNotFoundError for a reference that names nothing.
    """
    path = Path(ref_or_folder)
    if (path / "version.json").is_file():
        return path.resolve()
    from estimator.registry import Registry

    return Registry(registry).resolve(str(ref_or_folder)).path.resolve()


def load_predictor(ref_or_folder: str | Path, registry: str | Path | None = None) -> Predictor:
    """A predictor from a version folder path or a registry reference (NAME[@VERSION|@ALIAS])."""
    return Predictor.load(version_folder(ref_or_folder, registry))
