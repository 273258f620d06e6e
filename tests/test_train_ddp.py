"""torchrun: two CPU processes (gloo) train one model on sharded batches; rank 0 alone writes the run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from satsr.weights import load_weights


def test_torchrun_two_cpu_processes(make_prepared: Callable[..., Path], tmp_path: Path) -> None:
    data, run = make_prepared(lr_tile=8), tmp_path / "run"
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        "[train]\nhr_crop = 16\nfeatures = 8\nblocks = 1\nd_features = 8\nlog_every = 1\nval_every = 3\n"
        "checkpoint_every = 3\nsample_tiles = 0\nnum_workers = 0\n"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "satsr", "train", str(data), "-o", str(run), "--config", str(toml),
           "--steps", "3", "--pretrain-steps", "1", "--batch-size", "2", "--device", "cpu"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = load_weights(run / "final.safetensors").metadata
    assert meta["training"]["processes"] == 2 and meta["training"]["effective_batch"] == 4
    assert meta["step"] == 3
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    # DDP kept both replicas identical, so rank 0's checkpoint is the model; G moved away from bicubic
    assert checkpoint["step"] == 3 and checkpoint["g"]["tail.weight"].abs().sum() > 0
    with (run / "log.csv").open() as f:
        steps = [line.split(",")[0] for line in f][1:]
    assert steps == ["1", "1", "2", "3", "3"]  # rank 0 alone logs: one row per step (+ validations)
