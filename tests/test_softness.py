"""Input-aware sharpening: a generator conditioned on its input's softness, trained with its estimator,
fixed per scene for tiled inference, and exposed as --softness."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from satsr.config import TrainConfig
from satsr.train import run_training
from satsr.weights import load_weights
from tests.support import run_cli, save_tiny_weights, smooth_image, tiny_generator
from tests.test_train_resume import TINY, _same


def test_conditioned_training_learns_the_estimator_and_resumes_exactly(
    make_prepared: Callable[..., Path], tmp_path: Path
) -> None:
    pairs = make_prepared("pairs", lr_tile=8)
    aerial = make_prepared("aerial", lr_tile=8, degraded=True, seed=1)
    settings = {"steps": 4, "pretrain_steps": 2, "degrade": "random", "upsampler": "shuffle-direct",
                "conditioned": True}  # fmt: skip
    full = TrainConfig(**{**TINY, **settings})  # type: ignore[arg-type]
    run_training([pairs, aerial], tmp_path / "straight", full)
    run_training([pairs, aerial], tmp_path / "resumed", TrainConfig(**{**full.to_dict(), "steps": 3}))
    run_training([pairs, aerial], tmp_path / "resumed", full, resume=True)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for key in ("g", "d", "ema", "opt_g", "opt_d"):
        _same(a[key], b[key], key)
    g = load_weights(tmp_path / "straight" / "final.safetensors").generator
    assert g.spec.conditioned and g.estimator is not None and "softness-conditioned" in g.spec.describe()
    rows = (tmp_path / "straight" / "log.csv").read_text().splitlines()
    column = rows[0].split(",").index("loss_softness")
    assert all(float(r.split(",")[column]) >= 0 for r in rows[1:] if r.split(",")[column])
    with pytest.raises(Exception, match="conditioned"):  # architecture is fixed on resume
        run_training([pairs, aerial], tmp_path / "resumed", TrainConfig(**{**full.to_dict(), "steps": 5,
                     "conditioned": False}), resume=True)  # fmt: skip


def test_the_softness_channel_steers_the_output() -> None:
    g = tiny_generator(upsampler="shuffle-direct", conditioned=True, detail=0.1).eval()
    torch.nn.init.normal_(g.head.weight, std=0.5)  # a head that reads the softness channel
    lr = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        sharp, soft = g(lr, torch.tensor([0.0, 0.0])), g(lr, torch.tensor([3.0, 3.0]))
        estimated = g(lr)
        g.softness = 3.0  # fixed for every tile of a scene: the estimator is not consulted
        fixed = g(lr)
        unknown = g(lr, torch.tensor([float("nan"), 0.0]))  # NaN: known only where finite
    assert not torch.allclose(sharp, soft) and torch.allclose(fixed, soft)
    assert torch.allclose(unknown[1], sharp[1]) and torch.allclose(unknown[0], soft[0])
    assert estimated.shape == sharp.shape and g.estimate_softness(lr).shape == (2,)
    with pytest.raises(ValueError, match="not softness-conditioned"):
        tiny_generator().estimate_softness(lr)


def test_upscale_fixes_one_softness_per_scene(make_raster: Callable[..., Path], tmp_path: Path) -> None:
    scene = make_raster("scene.tif", smooth_image(np.random.default_rng(0), 3, 80, 90))
    conditioned = tiny_generator(upsampler="shuffle-direct", conditioned=True, detail=0.1)
    weights = save_tiny_weights(tmp_path / "cond.safetensors", conditioned)
    blind = save_tiny_weights(tmp_path / "blind.safetensors")
    estimated, given = tmp_path / "estimated.tif", tmp_path / "given.tif"
    for out, extra in ((estimated, []), (given, ["--softness", "1.5"])):
        result = run_cli("upscale", scene, "-o", out, "--weights", weights, "--tile", "32", *extra)
        assert result.returncode == 0, result.stderr
    with rasterio.open(estimated) as a, rasterio.open(given) as b:
        assert float(a.tags()["SATSR_SOFTNESS"]) >= 0 and b.tags()["SATSR_SOFTNESS"] == "1.500"
        assert a.shape == b.shape == (320, 360)
    refused = run_cli("upscale", scene, "-o", tmp_path / "no.tif", "--weights", blind, "--softness", "1")
    assert refused.returncode != 0 and "not softness-conditioned" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "no.tif").exists()
