"""Which model version the service should serve right now.

A source is either one fixed version folder (`MODEL_FOLDER` pointing at a
version, as in the article) or a model reference in a registry, resolved
again at each look so that moving an alias moves the service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from estimator.errors import ConfigError, ModelNotFoundError
from estimator.registry import ALIAS_FILE, VERSION_FILE, Registry, split_ref
from estimator.serving.settings import Settings


@dataclass(frozen=True)
class ModelSource:
    """A fixed folder (`registry is None`) or a reference resolved in a registry."""

    ref: str
    registry: Registry | None = None
    folder: Path | None = None

    def locate(self) -> Path:
        """The version folder to serve now; raises ModelNotFoundError when there is none."""
        if self.registry is None:
            assert self.folder is not None
            return self.folder
        return self.registry.resolve(self.ref).path

    def describe(self) -> str:
        if self.registry is None:
            return f"version folder '{self.folder}'"
        return f"'{self.ref}' in registry '{self.registry.root}'"


def _is_version(path: Path) -> bool:
    return (path / VERSION_FILE).is_file()


def _is_model_folder(path: Path) -> bool:
    return (path / ALIAS_FILE).is_file() or any(_is_version(p) for p in path.glob("v*"))


def source_from(settings: Settings) -> ModelSource:
    """Decide what to serve from the settings, refusing ambiguous or impossible choices.

    Raises ConfigError when several models could be meant (naming them) or
    the choices contradict each other, ModelNotFoundError when there is none.
    """
    model = settings.model
    folder = settings.model_folder
    if model is not None and _is_version(Path(model)):
        return ModelSource(ref=model, folder=Path(model))
    if folder is not None and not folder.is_dir():
        raise ModelNotFoundError(f"MODEL_FOLDER '{folder}' is not a folder.")
    if folder is not None and _is_version(folder):
        meta = json.loads((folder / VERSION_FILE).read_text())
        if model is not None and split_ref(model)[0] != meta.get("name"):
            raise ConfigError(f"MODEL_FOLDER points at a version of '{meta.get('name')}', but "
                              f"the model asked for is '{model}'; unset one of them.",
                              key="model", value=model)
        return ModelSource(ref=f"{meta.get('name')}@{meta.get('version')}", folder=folder)
    root = settings.registry
    if folder is not None and _is_model_folder(folder):
        root, model = folder.parent, model or folder.name
    elif folder is not None:
        root = folder
    registry = Registry(root)
    if model is None:
        names = registry.names()
        if not names:
            raise ModelNotFoundError(f"Registry '{root}' holds no model; train one first "
                                     "(estimator train --conf configs/boston.yaml).")
        if len(names) > 1:
            raise ConfigError(f"Registry '{root}' holds several models ({', '.join(names)}); "
                              "choose one with --model or ESTIMATOR_MODEL.", key="model")
        model = names[0]
    split_ref(model)
    return ModelSource(ref=model, registry=registry)
