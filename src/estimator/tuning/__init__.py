"""Tuning: Optuna studies over a config's search space, shared through a storage URL.

    tune(config, trials=N)     run trials, register the best config (study summary inside)
    open_study                 create or resume a named study in a storage
    TrainingRows               what the objective cross-validates: the training split only
    resolve / DEFAULT_SPACES   the search space of a config, per family
    open_storage / public_url  PostgreSQL, SQLite or journal file storages, by URL
"""

from __future__ import annotations

from estimator.tuning.objective import TrainingRows, direction
from estimator.tuning.space import DEFAULT_SPACES, apply, resolve, suggest
from estimator.tuning.storage import default_url, open_storage, public_url
from estimator.tuning.study import TuneProgress, TuneResult, open_study, study_name, tune

__all__ = ["DEFAULT_SPACES", "TrainingRows", "TuneProgress", "TuneResult", "apply",
           "default_url", "direction", "open_storage", "open_study",
           "public_url", "resolve", "study_name", "suggest", "tune"]
