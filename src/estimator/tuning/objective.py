"""The objective: repeated k-fold cross-validation on the training split only.

The test split of the config is set aside before anything else, so neither
tuning nor model selection ever sees it; the winner is evaluated on it once.
Each fold carves its own validation rows for early stopping, as training
does, and fits its own preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from estimator.config import Config, TuneConfig
from estimator.data.sources import Dataset, load
from estimator.evaluation import FoldProgress, cross_validate
from estimator.features import FloatArray
from estimator.schema import Schema
from estimator.training import raw_matrix, split_indices


def direction(metric: str) -> Literal["minimize", "maximize"]:
    """R² is better when higher; every error metric when lower."""
    return "maximize" if metric == "r2" else "minimize"


@dataclass
class TrainingRows:
    """The encoded data set and the rows that tuning and selection may look at."""

    dataset: Dataset
    schema: Schema
    raw: FloatArray
    y: FloatArray
    rows: Any

    @classmethod
    def load(cls, config: Config, config_dir: Path | None = None) -> TrainingRows:
        """Everything but the config's test split (training and validation rows)."""
        dataset = load(config.data, base_dir=config_dir)
        raw = raw_matrix(dataset.schema, dataset)
        sp = config.split
        train_idx, val_idx, _ = split_indices(len(dataset.target), sp.test, sp.validation,
                                              sp.seed)
        rows = np.sort(np.concatenate([train_idx, val_idx]))
        return cls(dataset=dataset, schema=dataset.schema, raw=raw, y=dataset.target,
                   rows=rows)

    def cross_validate(self, config: Config, splits: int, repeats: int, *,
                       progress: FoldProgress | None = None) -> dict[str, Any]:
        """`evaluation.cross_validate` over these rows only."""
        return cross_validate(config, self.schema, self.raw, self.y, self.rows, splits,
                              repeats, **({"progress": progress} if progress else {}))


class Objective:
    """What a trial computes: the config with the trial's suggestions, cross-validated.

    With pruning, the validation MAE of each epoch (MLP) or boosting round
    (gbm, every 10th) on the first fold is reported, and the pruner may stop
    the trial there; the first fold is where stopping saves the most.
    """

    def __init__(self, config: Config, data: TrainingRows, space: dict[str, Any]) -> None:
        self.config = config
        self.data = data
        self.space = space
        self.tune = config.tune or TuneConfig()
        family = config.model.family
        self.report_every = {"mlp": 1, "gbm": 10}.get(family, 0) if self.tune.pruning else 0

    def __call__(self, trial: Any) -> float:
        import optuna

        from estimator.tuning.space import apply, suggest

        overrides = suggest(trial, self.space)
        trial.set_user_attr("overrides", overrides)
        config = apply(self.config, overrides)
        every = self.report_every

        def prune(fold: int, task: str, step: int, total: int, metrics: dict[str, float]) -> None:
            if fold or not every or step % every or "val_mae" not in metrics:
                return
            trial.report(metrics["val_mae"], step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation MAE {metrics['val_mae']:.4g} at {task} "
                                         f"{step} of the first fold")

        summary = self.data.cross_validate(config, self.tune.cv, self.tune.repeats,
                                           progress=prune)
        trial.set_user_attr("cv", {m: summary[m] for m in ("mae", "rmse", "r2", "mape")})
        return float(summary[self.tune.metric]["mean"])
