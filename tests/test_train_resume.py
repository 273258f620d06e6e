"""Resuming: k steps + resume == N steps straight; a SIGKILLed run loses at most one checkpoint interval.
Also the data pipeline's reproducibility (crops, sampler order, DDP sharding) that exact resume relies on."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from satsr import SCALE
from satsr.config import TrainConfig
from satsr.dataset import CropSampler, TileDataset, open_sources
from satsr.train import run_training
from tests.support import TINY_TRAIN

TINY = {**TINY_TRAIN, "hr_crop": 16, "batch_size": 2, "sample_tiles": 0, "pretrain_steps": 2,
        "adv_ramp_steps": 2}  # fmt: skip


def _same(a: object, b: object, path: str = "") -> None:
    """Recursive comparison of two checkpoint states (tensors within float tolerance; bitwise in practice)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert torch.allclose(a.float(), b.float(), rtol=1e-6, atol=1e-8), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{path}: {a} != {b}"  # NaN == NaN here


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resumed_run_equals_straight_run(
    make_prepared: Callable[..., Path], tmp_path: Path, precision: str
) -> None:
    """wgan-gp draws from torch's RNG and unrolling copies optimiser state: both must survive the restart."""
    data = make_prepared(lr_tile=8)
    settings = {"steps": 5, "adv_loss": "wgan-gp", "d_unroll": 1, "precision": precision}
    full = TrainConfig(**{**TINY, **settings})  # type: ignore[arg-type]
    run_training([data], tmp_path / "straight", full)
    run_training([data], tmp_path / "resumed", TrainConfig(**{**full.to_dict(), "steps": 4}))
    # the resumed half loads crops in 2 worker processes: data order must not depend on workers
    workers = TrainConfig(**{**full.to_dict(), "num_workers": 2})
    run_training([data], tmp_path / "resumed", workers, resume=True)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 5
    for key in ("g", "d", "ema", "opt_g", "opt_d", "best_psnr", "best_pretrain_psnr", "rng"):
        _same(a[key], b[key], key)
    rows_a, rows_b = (
        list(csv.DictReader((tmp_path / r / "log.csv").open())) for r in ("straight", "resumed")
    )
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b]
    for column in ("loss_g", "loss_d", "val_psnr"):
        x, y = ([float(r[column] or "nan") for r in rows] for rows in (rows_a, rows_b))
        assert np.allclose(x, y, rtol=1e-5, equal_nan=True), column


def _log_steps(path: Path) -> list[int]:
    if not path.exists():
        return []
    with path.open() as f:
        return [int(r["step"]) for r in csv.DictReader(f) if r["loss_g"]]


def test_sigkilled_run_resumes_from_its_last_checkpoint(
    make_prepared: Callable[..., Path], tmp_path: Path
) -> None:
    data, run = make_prepared(lr_tile=8), tmp_path / "run"
    toml = tmp_path / "tiny.toml"
    toml.write_text("[train]\n" + "".join(f"{k} = {v}\n" for k, v in TINY.items()))
    cmd = [sys.executable, "-m", "satsr", "train", str(data), "-o", str(run), "--config", str(toml)]
    proc = subprocess.Popen([*cmd, "--steps", "100000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (run / "checkpoint.pt").exists() or max(_log_steps(run / "log.csv"), default=0) < 5:
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = max(_log_steps(run / "log.csv"))
    saved = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert done - saved <= TINY["checkpoint_every"]  # at most one interval of work lost
    resume = [*cmd, "--resume", "--steps", str(saved + 3)]
    result = subprocess.run(resume, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert _log_steps(run / "log.csv") == list(range(1, saved + 4))  # rows after the checkpoint: redone once
    assert (run / "final.safetensors").exists()


def test_crops_are_aligned_and_reproducible(make_prepared: Callable[..., Path]) -> None:
    data = make_prepared(lr_tile=8, dtype="uint16")
    ds = TileDataset(open_sources([data]), "train", hr_crop=16)
    lr, hr, valid, _ = ds[(3, 12345)]
    assert lr.shape == (3, 4, 4) and hr.shape == (3, 16, 16) and valid.all()
    # LR tiles are 4x4 means of the HR, so the HR crop pooled must give the LR crop (same flip/rotation)
    pooled = hr.reshape(3, 4, SCALE, 4, SCALE).mean(dim=(2, 4))
    assert torch.allclose(pooled, lr, atol=1 / 4095)
    assert all(torch.equal(x, y) for x, y in zip(ds[(3, 12345)][:3], (lr, hr, valid), strict=True))
    crops = {ds[(3, seed)][1].numpy().tobytes() for seed in range(12)}
    assert len(crops) > 6  # crops, flips and rotations vary with the seed


def test_sampler_order_resumes_and_shards() -> None:
    def first(sampler: CropSampler, n: int) -> list[list[tuple[int, int]]]:
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    straight = first(CropSampler(10, 4, seed=7), 6)
    assert first(CropSampler(10, 4, seed=7, start_step=4), 2) == straight[4:]
    epoch = [i for batch in straight for i, _ in batch][:10]
    assert sorted(epoch) == list(range(10))  # every tile once per epoch
    ranks = [first(CropSampler(10, 2, seed=7, rank=r, world=2), 3) for r in (0, 1)]
    both = [ranks[0][s] + ranks[1][s] for s in range(3)]
    assert both == first(CropSampler(10, 4, seed=7), 3)  # 2 ranks x 2 == one process x 4, same samples
    assert first(CropSampler(10, 4, seed=8), 1) != straight[:1]
    assert np.all([seed >= 0 for batch in straight for _, seed in batch])
