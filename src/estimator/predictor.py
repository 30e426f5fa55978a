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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from estimator.errors import ModelLoadError
from estimator.features import Encoded, FloatArray, Preprocessor, encode, encode_rows
from estimator.models import Model, load_model
from estimator.schema import Schema

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
class Predictor:
    """A loaded model version: schema, fitted preprocessing and model."""

    schema: Schema
    preprocessor: Preprocessor
    model: Model
    meta: dict[str, Any]

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
        return cls(schema=schema, preprocessor=pre, model=model, meta=meta)

    def __post_init__(self) -> None:
        self._direct = _direct_model(self.model, self.preprocessor)
        self._one: Callable[[tuple[float, ...]], float] | None = getattr(
            self._direct, "predict_one", None)

    def predict_matrix(self, raw: FloatArray, complete: bool = False) -> FloatArray:
        """Prices for a raw matrix from `features.encode`, in one vectorised call.

        `complete` promises that no value is missing (the service has validated
        every row), which spares looking for one.
        """
        if self._direct is not None and (complete or not np.isnan(raw).any()):
            return self.preprocessor.inverse_target(self._direct.predict(raw))
        x = self.preprocessor.transform(raw)
        return self.preprocessor.inverse_target(self.model.predict(x))

    def predict_one(self, values: Sequence[float]) -> float:
        """The price of one complete house, its values in schema order.

        Where the model can take a plain vector (an MLP on standardised
        features), this skips building a matrix; otherwise it is
        `predict_matrix` of one row.
        """
        if self._one is not None:
            return self.preprocessor.inverse_price(self._one(tuple(values)))
        return float(self.predict_matrix(np.array([values], dtype=np.float64), complete=True)[0])

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> Encoded:
        return encode_rows(self.schema, rows, allow_missing=False)

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """Prices for row objects; raises ValidationError naming the first bad row and field."""
        encoded = self.encode_rows(rows)
        encoded.raise_first()
        return self.predict_matrix(encoded.matrix)

    def predict_columns(self, columns: Mapping[str, Any], *, row_offset: int = 0,
                        allow_missing: bool = True) -> tuple[FloatArray, Encoded]:
        """Prices for columns (a batch file's chunk); bad rows get NaN and an entry in errors."""
        encoded = encode(self.schema, columns, allow_missing=allow_missing, parse_strings=True,
                         row_offset=row_offset)
        prices = np.full(encoded.matrix.shape[0], np.nan)
        good = np.ones(encoded.matrix.shape[0], dtype=bool)
        for row in encoded.errors:
            good[row - row_offset] = False
        if good.any():
            prices[good] = self.predict_matrix(encoded.matrix[good])
        return prices, encoded


def load_predictor(ref_or_folder: str | Path, registry: str | Path | None = None) -> Predictor:
    """A predictor from a version folder path or a registry reference (NAME[@VERSION|@ALIAS])."""
    path = Path(ref_or_folder)
    if (path / "version.json").is_file():
        return Predictor.load(path)
    from estimator.registry import Registry

    return Predictor.load(Registry(registry).resolve(str(ref_or_folder)).path)


def _direct_model(model: Model, pre: Preprocessor) -> Model | None:
    """The model with the standardisation folded into its first layer, where both allow it.

    Every caller of `predict_matrix` (the service, batch scoring, evaluation)
    takes this path for complete rows, so prices agree whichever computed them;
    it spares a single-house request the transform's operations.
    """
    affine = pre.affine()
    fold = getattr(model, "fold_input", None)
    return fold(*affine) if affine is not None and fold is not None else None
