"""The EDA report's figures, as base64 PNG strings ready to embed in HTML.

Figures are small and drawn at a modest dpi, and scatter plots use a fixed
sample of rows, so a report on hundreds of thousands of rows stays a few
hundred kilobytes and a few seconds of drawing.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pandas as pd

from estimator.data.sources import Dataset
from estimator.reports.plots import _pyplot, figure_png

SCATTER_ROWS = 2000
SCATTER_FEATURES = 4
MAX_BARS = 30
DISCRETE_LEVELS = 25


def figures(dataset: Dataset, numeric: pd.DataFrame, summary: dict[str, Any]) -> dict[str, Any]:
    """Every image of the report, keyed as the template expects; `numeric` holds the
    non-categorical features as floats."""
    y = dataset.target
    top = [t["feature"] for t in summary["target_correlation"][:SCATTER_FEATURES]]
    return {
        "target": _b64(target_histogram(y, summary["target"])),
        "heatmap": _b64(heatmap(summary["correlation"])) if len(numeric.columns) else None,
        "scatter": _b64(scatter(numeric[top], y, summary["target"]["name"])) if top else None,
        "features": {f["name"]: _b64(feature_plot(
            dataset.frame[f["name"]] if f["kind"] == "categorical" else numeric[f["name"]], f))
            for f in summary["features"]},
    }


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def target_histogram(y: np.ndarray, target: dict[str, Any]) -> bytes:
    """The target's distribution, with a capped maximum marked in red."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ax.hist(y, bins=target["histogram"]["edges"], color="#4c72b0", edgecolor="white")
    cap = target["capped"]
    if cap:
        ax.axvline(cap["value"], color="#c44e52", linestyle="--")
        ax.annotate(f"{cap['count']} rows at {cap['value']:g} (capped)",
                    xy=(cap["value"], ax.get_ylim()[1] * 0.9), xytext=(-6, 0),
                    textcoords="offset points", ha="right", color="#c44e52", fontsize=9)
    ax.set_xlabel(target["name"])
    ax.set_ylabel("rows")
    ax.grid(alpha=0.3)
    return figure_png(fig)


def heatmap(corr: dict[str, Any]) -> bytes:
    """Pearson correlations of the numeric columns and the target, annotated when legible."""
    plt = _pyplot()
    names = corr["columns"]
    m = np.array([[np.nan if v is None else v for v in row] for row in corr["matrix"]])
    size = min(14.0, max(4.0, 0.45 * len(names) + 1.5))
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    if len(names) <= 20:
        for i in range(len(names)):
            for j in range(len(names)):
                if not np.isnan(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                            color="white" if abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return figure_png(fig)


def scatter(features: pd.DataFrame, y: np.ndarray, target: str) -> bytes:
    """The features most correlated with the target against it, on a fixed sample of rows."""
    plt = _pyplot()
    rows = np.random.default_rng(0).permutation(len(y))[:SCATTER_ROWS]
    cols = list(features.columns)
    fig, axes = plt.subplots(1, len(cols), figsize=(3.6 * len(cols), 3), squeeze=False)
    for ax, name in zip(axes[0], cols, strict=True):
        ax.scatter(features[name].to_numpy()[rows], y[rows], s=5, alpha=0.35, color="#4c72b0")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(target)
    fig.tight_layout()
    return figure_png(fig)


def feature_plot(col: pd.Series, feature: dict[str, Any]) -> bytes:
    """Bars for categories and few-valued columns, a histogram for the rest."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.4, 2.3))
    if feature["kind"] == "categorical":
        counts = col.dropna().astype(str).value_counts().head(MAX_BARS).iloc[::-1]
        ax.barh(range(len(counts)), counts.to_numpy(), color="#55a868")
        ax.set_yticks(range(len(counts)), list(counts.index), fontsize=7)
    elif feature["kind"] == "binary" or (feature["kind"] == "integer"
                                         and feature["distinct"] <= DISCRETE_LEVELS):
        counts = col.dropna().value_counts().sort_index()
        ax.bar(range(len(counts)), counts.to_numpy(), color="#55a868")
        ax.set_xticks(range(len(counts)), [f"{k:g}" for k in counts.index], fontsize=7,
                      rotation=90 if len(counts) > 10 else 0)
    else:
        ax.hist(col.dropna().to_numpy(), bins=30, color="#4c72b0", edgecolor="white")
        if feature.get("capped"):
            ax.axvline(feature["capped"]["value"], color="#c44e52", linestyle="--")
    ax.set_title(feature["name"], fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    return figure_png(fig)
