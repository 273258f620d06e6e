"""A training run's directory: the names satsr writes there (the one place that knows them), and its
creation (refusing to clobber a run). Light: config.py and weights.py read the names without torch."""

from __future__ import annotations

import shutil
from pathlib import Path

from satsr.errors import OutputExistsError, TrainingError
from satsr.outputs import write_errors

CONFIG = "config.toml"  # the resolved TrainConfig
LOG = "log.csv"  # one row per log or validation event
CURVES = "curves.png"  # loss, discriminator and validation curves
CHECKPOINT = "checkpoint.pt"  # models, optimisers, RNG states: what --resume continues
PSNR = "psnr.safetensors"  # best pretraining (pixel-loss) EMA
BEST = "best.safetensors"  # best val PSNR overall
FINAL = "final.safetensors"  # EMA at the end
SAMPLES = "samples"  # samples/step_NNNNNNN.png grids
OUTPUTS = (CONFIG, LOG, CURVES, CHECKPOINT, PSNR, BEST, FINAL, SAMPLES)


def sample_png(step: int) -> str:
    return f"{SAMPLES}/step_{step:07d}.png"


def prepare_run_dir(d: Path, *, resume: bool, overwrite: bool, main: bool, world: int) -> None:
    """Refuse to clobber a run; --overwrite removes only satsr's own outputs from it. Under torchrun every
    rank looks before rank 0 (`main`) creates anything."""
    if d.exists() and not d.is_dir():
        raise OutputExistsError(f"{d}: is a file, not a run directory; choose another -o")
    used = d.exists() and any(d.iterdir())
    if used and not resume and not overwrite:
        raise OutputExistsError(f"{d}: run directory exists; pass --resume to continue it or --overwrite")
    if resume and not (d / CHECKPOINT).exists():
        raise TrainingError(f"{d / CHECKPOINT}: no checkpoint to resume from; start the run without --resume")
    import torch.distributed as dist

    if world > 1:
        dist.barrier()
    if main:
        with write_errors(d):
            _make(d, clear=overwrite and not resume)
    if world > 1:
        dist.barrier()


def _make(d: Path, clear: bool) -> None:
    if clear:
        for name in OUTPUTS:
            path = d / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    (d / SAMPLES).mkdir(parents=True, exist_ok=True)
