"""Static plots with matplotlib's Agg backend, as PNG files or bytes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig: Any) -> bytes:
    """A figure as PNG bytes; the figure is closed so memory does not grow."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def learning_curves_png(curves: dict[str, Any], path: Path, title: str = "") -> None:
    """Loss and MAE per epoch or boosting round, training against validation."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    unit = curves.get("unit", "epoch")
    for ax, metric in zip(axes, ("loss", "mae"), strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            values = curves.get(f"{split}_{metric}") or []
            if values:
                ax.plot(range(1, len(values) + 1), values, style,
                        label="validation" if split == "val" else "training")
        best = curves.get("best_epoch")
        if best and curves.get(f"val_{metric}"):
            ax.axvline(best, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel(unit)
        ax.set_ylabel(metric.upper() if metric == "mae" else "loss")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(f"Learning curves {title}".strip())
    path.write_bytes(figure_png(fig))
