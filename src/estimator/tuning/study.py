"""Running a study: trials from one or many workers, then the winner registered.

A study is named (by default after the config and its family) and kept in a
storage chosen by URL, so running the same command again, or on another
machine against the same database, adds trials to the same study. TPE
samples the space (multivariate, with a "constant liar" so that parallel
workers do not all try the same point), and a median pruner stops trials
whose first fold falls behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from estimator.config import Config, TuneConfig
from estimator.errors import ConfigError, StudyStorageError
from estimator.registry import Registry, VersionInfo
from estimator.training import TrainProgress, TrainResult, train
from estimator.tuning import space as space_mod
from estimator.tuning.objective import Objective, TrainingRows, direction
from estimator.tuning.storage import default_url, open_storage, public_url, quiet_experimental
from estimator.tuning.summary import counts, write_summary

# (trials finished in this run, trials asked for, best value so far, its trial number)
TuneProgress = Callable[[int, int, float | None, int | None], None]


def _quiet(done: int, total: int, best: float | None, number: int | None) -> None:
    """Report nothing."""


def _no_train_progress(task: str, step: int, total: int, metrics: dict[str, float]) -> None:
    """Report nothing."""


@dataclass
class TuneResult:
    study: str
    storage: str
    metric: str
    direction: str
    trials: dict[str, int]
    best_trial: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    config: Config | None = None
    version: VersionInfo | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def study_name(config: Config) -> str:
    return f"{config.name}-{config.model.family}"


def open_study(config: Config, storage: str, name: str) -> Any:
    """Create the study or load it; refuse one that tunes another family or metric.

    Raises ConfigError for a mismatch, StudyStorageError when the storage fails.
    """
    import optuna

    tc = config.tune or TuneConfig()
    family = config.model.family
    sampler_args: dict[str, Any] = {"n_startup_trials": tc.startup_trials, "seed": tc.seed}
    with quiet_experimental():
        sampler = optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True,
                                             **sampler_args)
    pruner: Any = optuna.pruners.NopPruner()
    if tc.pruning:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5,
                                             n_warmup_steps=10 if family == "mlp" else 50)
    store = open_storage(storage, heartbeat=tc.heartbeat, retries=tc.retries)
    want = direction(tc.metric)
    try:
        study = optuna.create_study(storage=store, study_name=name, direction=want,
                                    sampler=sampler, pruner=pruner, load_if_exists=True)
    except ValueError as err:
        raise ConfigError(f"Study '{name}' cannot be used: {err}; choose another --study.",
                          key="--study") from None
    except Exception as err:
        raise StudyStorageError(f"Study '{name}' cannot be opened in {public_url(storage)}: "
                                f"{str(err).splitlines()[0] if str(err) else err!r}.") from None
    attrs = study.user_attrs
    mine = {"family": family, "metric": tc.metric, "config": config.name}
    if any(attrs.get(k, mine[k]) != mine[k] for k in ("family", "metric")):
        raise ConfigError(f"Study '{name}' tunes the {attrs.get('metric')} of a "
                          f"{attrs.get('family')} model, not the {tc.metric} of a {family}; "
                          "choose another --study.", key="--study")
    for key, value in mine.items():  # another worker may be setting them at this moment
        if key not in attrs:
            study.set_user_attr(key, value)
    if study.direction.name.lower() != want:
        raise ConfigError(f"Study '{name}' is set to {study.direction.name.lower()}, but "
                          f"tune.metric {tc.metric} needs {want}.", key="--study")
    return study


def _best(study: Any) -> Any | None:
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def tune(config: Config, *, trials: int, timeout: float | None = None,
         storage: str | None = None, study: str | None = None, jobs: int = 1,
         registry: Registry | str | Path | None = None, config_dir: Path | None = None,
         register: bool = True, progress: TuneProgress = _quiet,
         train_progress: TrainProgress = _no_train_progress) -> TuneResult:
    """Run `trials` more trials (or until `timeout` seconds) and register the best config.

    The winner is retrained on the whole training split, evaluated once on
    the test split and registered with the study summary in its folder.
    Raises ConfigError for a bad space, URL or study, StudyStorageError
    when the storage cannot be reached.
    """
    import optuna

    if config.pretrained:
        raise ConfigError("Tuning trains from scratch; remove 'pretrained' from the config.",
                          key="pretrained")
    tc = config.tune or TuneConfig()
    space_mod.resolve(config)  # a bad space is refused before any storage or data is opened
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    url = storage or default_url(reg.root)
    name = study or study_name(config)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    the_study = open_study(config, url, name)
    data = TrainingRows.load(config, config_dir)
    space = space_mod.resolve(config, rows=len(data.rows), schema=data.schema)
    done, lock = 0, threading.Lock()

    def after_trial(study_: Any, trial: Any) -> None:
        nonlocal done
        with lock:
            done += 1
            best = _best(study_)
            progress(done, trials, best.value if best else None, best.number if best else None)

    best = _best(the_study)
    progress(0, trials, best.value if best else None, best.number if best else None)
    with quiet_experimental():
        the_study.optimize(Objective(config, data, space), n_trials=trials, timeout=timeout,
                           n_jobs=jobs, callbacks=[after_trial], gc_after_trial=True)
    result = TuneResult(study=name, storage=public_url(url), metric=tc.metric,
                        direction=direction(tc.metric), trials=counts(the_study))
    best = _best(the_study)
    if best is None:
        return result
    result.best_trial, result.best_value, result.best_params = best.number, best.value, \
        dict(best.params)
    # The trial kept the config keys it set; replaying the space would fail on a best trial
    # from an earlier run whose space was different.
    overrides = best.user_attrs.get("overrides")
    if overrides is None:
        from optuna.trial import FixedTrial

        overrides = space_mod.suggest(FixedTrial(best.params), space)
    result.config = space_mod.apply(config, overrides)
    if register:
        trained = register_best(result, the_study, best, reg, config_dir, train_progress)
        result.version, result.metrics = trained.version, trained.metrics
    return result


def register_best(result: TuneResult, study: Any, best: Any, registry: Registry,
                  config_dir: Path | None, progress: TrainProgress) -> TrainResult:
    """Retrain the best config on the training split and register it with the study summary."""
    assert result.config is not None

    def annotate(folder: Path) -> dict[str, Any]:
        summary = write_summary(study, folder, metric=result.metric, best_trial=best)
        return {"tuning": {
            "study": result.study, "storage": result.storage, "trial": best.number,
            "params": dict(best.params), "best_value": best.value, "metric": result.metric,
            "direction": result.direction, "cv": summary["best_cv"],
            "trials": summary["trials"],
        }}

    return train(result.config, registry=registry, config_dir=config_dir, progress=progress,
                 annotate=annotate)
