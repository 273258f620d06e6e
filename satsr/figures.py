"""The evaluation figure: LR | bicubic | lanczos | SR | HR crops of a few tiles, one row per tile (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from satsr.normalise import Normalisation
from satsr.outputs import atomic_output

COLUMNS = ("LR", "bicubic", "lanczos", "sr", "HR")


def display(img: np.ndarray, norm: Normalisation) -> np.ndarray:
    """(C, H, W) native -> (H, W, 3) or (H, W) in [0, 1]: RGB from the first three bands, else band 1."""
    x = np.clip(norm.forward(img), 0.0, 1.0)
    return np.moveaxis(x[:3], 0, -1) if x.shape[0] >= 3 else x[0]


def save_figure(
    path: str | Path, crops: list[dict[str, np.ndarray]], norm: Normalisation, sr_label: str = "SR",
    overwrite: bool = False, columns: tuple[str, ...] = COLUMNS,
) -> Path:  # fmt: skip
    """Write the comparison grid atomically, one column per crop key. LR is drawn with nearest pixels."""
    import matplotlib

    matplotlib.use("Agg")  # no display: figures are written by a CLI, possibly on a server
    import matplotlib.pyplot as plt

    rows = max(len(crops), 1)
    fig, axes = plt.subplots(rows, len(columns), figsize=(2.4 * len(columns), 2.4 * rows), squeeze=False)
    for r, crop in enumerate(crops):
        for c, name in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(display(crop[name], norm), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(sr_label if name == "sr" else name)
    if not crops:
        axes[0, 0].text(0.5, 0.5, "no fully valid tile to show", ha="center", va="center")
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
