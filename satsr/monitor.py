"""What a run reports: validation of the EMA model beside bicubic, log.csv, curve plots, sample grids."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from satsr.baselines import bicubic_model
from satsr.dataset import TileDataset
from satsr.metrics import Sample, Scorer
from satsr.normalise import Normalisation
from satsr.outputs import atomic_output, write_errors
from satsr.precision import Precision
from satsr.progress import Progress, silent

LOG_FIELDS = (
    "step", "phase", "elapsed_s", "step_ms", "loss_g", "loss_pixel", "loss_adv", "loss_fm", "loss_d",
    "adv_weight", "d_real", "d_fake", "d_acc", "g_spread", "val_psnr", "val_mse", "val_psnr_bicubic",
    "val_mse_bicubic", "loss_softness",
)  # fmt: skip
SPREAD_TILES = 8  # tiles of the fixed batch whose output spread watches for mode collapse
VALIDATE_TASK = "validate"  # progress task: val tiles scored so far


def output_range(norm: Normalisation) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band (1, C, 1, 1) bounds of what the native dtype can hold, in model space (for clipping)."""
    dtype = np.dtype(norm.dtype)
    bands = norm.bands
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        lo = norm.forward(np.full((bands, 1), info.min, dtype=np.float64))
        hi = norm.forward(np.full((bands, 1), info.max, dtype=np.float64))
    else:
        lo, hi = np.full((bands, 1), -np.inf, np.float32), np.full((bands, 1), np.inf, np.float32)
    return torch.from_numpy(lo).view(1, -1, 1, 1), torch.from_numpy(hi).view(1, -1, 1, 1)


def pick(n: int, count: int) -> list[int]:
    """`count` indices evenly spread over range(n) (all when count is 0 or >= n): fixed across the run."""
    if count == 0 or count >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, count)})


@torch.no_grad()
def validate(
    g: nn.Module, val: TileDataset, indices: Sequence[int], precision: Precision, progress: Progress = silent
) -> dict[str, Any]:
    """PSNR/MSE of `g` (run in `precision`, as upscale will run it) and of bicubic over the valid pixels of
    the val tiles (data range 1 in model space). Reports task "validate" per tile (a minute on CPUs: the
    training bar would otherwise stand still).

    Scored by satsr.metrics, as `satsr evaluate` scores: PSNR from the MSE pooled over all valid pixels
    and bands of the tiles (not the mean of per-tile PSNRs). Also returns `g_spread`: the spread
    across a fixed batch of what G adds to bicubic, relative to the same spread of the HR (near 0 for a
    generator that adds the same pattern to every input, i.e. mode collapse; 0 also for a fresh G).
    """
    device = precision.device
    lo, hi = (t.to(device) for t in output_range(val.norm))
    was_training = g.training
    g.eval()
    scorers = {name: Scorer(("psnr", "mse"), val.norm.bands, 1.0) for name in ("sr", "bicubic")}
    residuals: list[tuple[torch.Tensor, torch.Tensor]] = []
    for n, i in enumerate(indices):
        progress(VALIDATE_TASK, n, len(indices))
        lr, hr, valid, _ = (t.to(device) for t in val[i])
        with precision.autocast():
            sr = g(precision.tensor(lr[None])).float()
        sr = torch.minimum(torch.maximum(sr, lo), hi)[0]
        bic = torch.minimum(torch.maximum(bicubic_model(lr[None], val.scale), lo), hi)[0]
        mask, truth = valid.cpu().numpy(), hr.cpu().double().numpy()
        for name, pred in (("sr", sr), ("bicubic", bic)):
            scorers[name].update(Sample(pred.cpu().double().numpy(), truth, mask, mask))
        if len(residuals) < SPREAD_TILES and (not residuals or residuals[0][0].shape == sr.shape):
            residuals.append((sr - bic, hr - bic))
    g.train(was_training)
    out: dict[str, Any] = {}
    for name, suffix in (("sr", ""), ("bicubic", "_bicubic")):
        scores = scorers[name].results()
        out[f"val_mse{suffix}"], out[f"val_psnr{suffix}"] = scores["mse"].overall, scores["psnr"].overall
    if len(residuals) >= 2:
        sr_res = torch.stack([r[0] for r in residuals]).std(dim=0).mean()
        hr_res = torch.stack([r[1] for r in residuals]).std(dim=0).mean()
        out["g_spread"] = float(sr_res / hr_res.clamp_min(1e-12))
    return out


class CsvLog:
    """RUN_DIR/log.csv, one row per log or validation event; appended line by line (flushed)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        """On resume: drop rows written after the checkpoint, they will be produced again."""
        if not self.path.exists():
            return
        with self.path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        with atomic_output(self.path, overwrite=True) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, row: dict[str, Any]) -> None:
        new = not self.path.exists()
        with write_errors(self.path), self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, LOG_FIELDS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(v) for k, v in row.items()})


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def read_log(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _series(rows: list[dict[str, str]], key: str) -> tuple[list[int], list[float]]:
    pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_curves(log_path: Path, png: Path) -> None:
    """Loss, discriminator and validation curves from log.csv as one PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    panels = (
        ("losses", ("loss_pixel", "loss_adv", "loss_g", "loss_d"), "log"),
        ("discriminator", ("d_real", "d_fake", "d_acc", "g_spread"), "linear"),
        ("val PSNR (dB)", ("val_psnr", "val_psnr_bicubic"), "linear"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4))
    for ax, (title, keys, yscale) in zip(axes, panels, strict=True):
        for key in keys:
            x, y = _series(rows, key)
            if x and (yscale == "linear" or min(y) > 0):
                ax.plot(x, y, label=key, marker="." if len(x) < 50 else None)
        ax.set(title=title, xlabel="step", yscale=yscale if ax.lines else "linear")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(png, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def _display(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) model space -> (H, W, 3) or (H, W) in [0, 1] for imshow (first three bands)."""
    a = x.detach().float().cpu().clamp(0, 1).numpy()
    return a[0] if a.shape[0] < 3 else np.moveaxis(a[:3], 0, -1)


@torch.no_grad()
def sample_grid(
    g: nn.Module, val: TileDataset, indices: Sequence[int], precision: Precision, png: Path
) -> None:
    """PNG grid with one row per fixed val tile: LR | bicubic | SR | HR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    was_training = g.training
    g.eval()
    fig, axes = plt.subplots(len(indices), 4, figsize=(12, 3 * len(indices)), squeeze=False)
    for row, i in zip(axes, indices, strict=True):
        lr, hr, _, _ = (t.to(precision.device) for t in val[i])
        bic = bicubic_model(lr[None], val.scale)[0]
        with precision.autocast():
            sr = g(precision.tensor(lr[None])).float()[0]
        for ax, title, img in zip(row, ("LR", "bicubic", "SR", "HR"), (lr, bic, sr, hr), strict=True):
            ax.imshow(_display(img), cmap="gray", interpolation="nearest", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    g.train(was_training)
    fig.tight_layout()
    with atomic_output(png, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=72)
    plt.close(fig)
