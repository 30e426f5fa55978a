"""Monitoring: what the service predicted, and what the houses really sold for.

    PredictionLog(url)     record / get / add_feedback / recent, on SQLite or PostgreSQL
    Prediction             one logged estimate, with its sale price once reported
    upgrade / current      bring a database to the package's schema, or read its revision
    DEFAULT_URL            sqlite:///predictions.db; production reads ESTIMATOR_DATABASE_URL

Importing this package opens no file and no connection.
"""

from __future__ import annotations

from estimator.monitoring.database import DEFAULT_URL, current, head, public_url, upgrade
from estimator.monitoring.store import Prediction, PredictionLog

__all__ = ["DEFAULT_URL", "Prediction", "PredictionLog", "current", "head", "public_url",
           "upgrade"]
