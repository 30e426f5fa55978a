"""Every error Estimator raises on purpose, in one tree.

    EstimatorError                  anything a user can act on
    ├── ConfigError                 a config key is unknown, mistyped or impossible (key, value)
    ├── DataError                   a data file cannot be used (path, column)
    │   └── SchemaMismatchError     new data's columns differ from a model's (missing, extra)
    ├── ValidationError             one input row is refused (row, field, value)
    ├── RegistryError               a model reference cannot be resolved or changed
    │   ├── ModelNotFoundError      no such model, version or alias
    │   └── AliasInUseError         a version still has an alias pointing at it
    ├── ModelLoadError              a version folder is incomplete or corrupt
    ├── StudyStorageError           an Optuna study storage cannot be reached or used
    └── DatabaseError               the prediction log's database cannot be reached or used
        └── PredictionNotFoundError no logged prediction has this id (prediction_id)

Each error keeps its structured fields and builds its own message, so the CLI
and the HTTP app can turn it into one line or one JSON body in one place.
"""

from __future__ import annotations

from typing import Any


class EstimatorError(Exception):
    """Base of every error a user can act on; `str(err)` is a complete sentence."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EstimatorError):
    """A config file or an override names an unknown key or holds a bad value."""

    exit_code = 2

    def __init__(self, message: str, key: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


class DataError(EstimatorError):
    """A data file is missing, unreadable, or unusable for training."""

    def __init__(self, message: str, path: str | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.column = column


class SchemaMismatchError(DataError):
    """New data does not have the columns a model was trained on."""

    def __init__(self, missing: list[str], extra: list[str]) -> None:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"extra columns {extra}")
        super().__init__("The data does not match the model's features: " + "; ".join(parts) + ".")
        self.missing = missing
        self.extra = extra


class ValidationError(EstimatorError):
    """One row of input is refused; `row` is its 0-based index in the request or file."""

    def __init__(self, reason: str, row: int | None = None, field: str | None = None,
                 value: Any = None) -> None:
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)
        self.reason = reason
        self.row = row
        self.field = field
        self.value = value


class RegistryError(EstimatorError):
    """A registry operation cannot be done as asked."""


class ModelNotFoundError(RegistryError):
    """A model name, version or alias does not exist."""


class AliasInUseError(RegistryError):
    """A version cannot be deleted while an alias points at it."""


class ModelLoadError(EstimatorError):
    """A model version folder is incomplete or its files are corrupt."""


class StudyStorageError(EstimatorError):
    """A tuning study's storage (database or journal file) cannot be reached or used."""


class DatabaseError(EstimatorError):
    """The prediction log's database cannot be reached, or refuses what is asked of it."""


class PredictionNotFoundError(DatabaseError):
    """Feedback or a look-up names a prediction id the log has never recorded."""

    def __init__(self, prediction_id: str) -> None:
        super().__init__(f"No prediction with id '{prediction_id}' is in the prediction log.")
        self.prediction_id = prediction_id
