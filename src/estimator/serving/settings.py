"""Runtime settings of the HTTP service, read from ESTIMATOR_* variables in one place.

`MODEL_FOLDER` (the article's variable) is honoured too: a model version
folder is served as it is; a registry root (or one model's folder inside
it) says where to look for the model to serve.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_LENGTH = 16


class Settings(BaseSettings):
    """Everything the app factory needs; each field is also an ESTIMATOR_<NAME> variable."""

    model_config = SettingsConfigDict(env_prefix="ESTIMATOR_", populate_by_name=True,
                                      extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    model: str | None = Field(None, description="NAME[@VERSION|@ALIAS] or a version folder.")
    registry: Path = Path("models")
    model_folder: Path | None = Field(
        None, validation_alias=AliasChoices("MODEL_FOLDER", "ESTIMATOR_MODEL_FOLDER"),
        description="A model version folder, or a registry root.")
    max_batch: int = Field(10_000, ge=1, description="Most houses in one request (else 413).")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024,
                                description="Largest request body accepted (else 413).")
    reload_interval: float = Field(2.0, ge=0.0, description="Seconds between two looks at the "
                                   "served alias; 0 turns the watcher off.")
    admin_token: SecretStr | None = Field(None, description="Bearer token of the admin routes; "
                                          "they are off when unset.")
    blas_threads: int = Field(1, ge=1, description="BLAS threads per worker; more only slows "
                              "small matrix products down when workers share the cores.")
    otel: bool = Field(False, description="FastAPI's native OpenTelemetry spans, metrics and "
                       "logs, exported where the OTEL_* variables say.")
    log_level: str = "info"
    database_url: str = Field("sqlite:///predictions.db", description="The prediction log: "
                              "an SQLite file (the default, created at start) or "
                              "postgresql+psycopg://USER:PASSWORD@HOST/DB (migrated by "
                              "`estimator db upgrade`).")
    log_predictions: bool = Field(True, description="Log every estimate served; false turns "
                                  "the prediction log off.")
    spool: Path = Field(Path("prediction-log.spool"), description="Where estimates wait, in "
                        "order, while the prediction log's database is unavailable.")

    @field_validator("admin_token")
    @classmethod
    def _strong_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None or token.get_secret_value() == "":
            return None
        if len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"ESTIMATOR_ADMIN_TOKEN must be at least {MIN_TOKEN_LENGTH} "
                             "characters long; generate one with `openssl rand -hex 32`")
        return token

    @field_validator("model")
    @classmethod
    def _blank_is_none(cls, model: str | None) -> str | None:
        return model or None
