"""Degradations drawn per training sample, the bicubic ("BI") recipe of prepare, the shuffle-direct
generator and the GAN's patch discriminator with feature matching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter, laplace

from satsr.config import TrainConfig
from satsr.dataset import TileDataset, open_sources
from satsr.degrade import Degradation, RandomDegradation, degrade, degrade_random
from satsr.discriminator import Discriminator
from satsr.errors import UsageError
from satsr.gan import content_loss
from satsr.losses import PIXEL_LOSSES
from satsr.manifest import load_manifest, save_manifest, scene_paths
from satsr.models import Generator, GeneratorSpec
from satsr.train import run_training
from satsr.weights import load_weights
from tests.support import smooth_image, tiny_span
from tests.test_train_resume import TINY, _same


def _hr(rng: np.random.Generator, side: int = 96) -> np.ndarray:
    return smooth_image(rng, 3, side, side)


def test_random_degradation_is_seeded_and_spans_sharp_to_soft(rng: np.random.Generator) -> None:
    hr, params = _hr(rng), RandomDegradation()
    margin = params.margin(4)
    assert margin % 4 == 0 and margin >= 3 * params.sigma_max
    results = [degrade_random(hr, params, np.random.default_rng(seed), 4, margin) for seed in range(40)]
    draws, softness = [d for d, _ in results], np.array([s for _, s in results])
    side = (96 - 2 * margin) // 4
    assert all(d.shape == (3, side, side) and d.dtype == np.uint8 for d in draws)
    again, again_softness = degrade_random(hr, params, np.random.default_rng(3), 4, margin)
    assert np.array_equal(again, draws[3]) and again_softness == softness[3]
    detail = np.array([float(np.abs(laplace(d[0].astype(float))).mean()) for d in draws])
    assert detail.max() > 2 * detail.min(), detail  # from sharp to soft, not one fixed blur
    # the softness a draw reports is its blur: 0 for some, up to ~sigma_max, and softer draws lose detail
    assert softness.min() == 0 and 1.5 < softness.max() <= 4 and np.corrcoef(softness, detail)[0, 1] < -0.5


def test_sharpest_draw_is_the_antialiased_bicubic_benchmark(rng: np.random.Generator) -> None:
    hr, margin = _hr(rng), 12
    never = dict(noise_prob=0.0, sharpen_prob=0.0, second_prob=0.0, jpeg_prob=0.0)
    params = RandomDegradation(sharp_prob=1.0, **never)
    x = torch.from_numpy(hr.astype(np.float32))[None]
    bicubic = F.interpolate(x, scale_factor=0.25, mode="bicubic", antialias=True, align_corners=False)[0]
    want = np.clip(np.rint(bicubic.numpy()), 0, 255)[:, 3:-3, 3:-3]
    kernels_seen = 0
    for seed in range(12):  # the kernel is drawn too: some draws are bicubic, and those match exactly
        lr, softness = degrade_random(hr, params, np.random.default_rng(seed), 4, margin)
        assert softness == 0
        kernels_seen += int(np.abs(lr.astype(int) - want).max() <= 1)
    assert 0 < kernels_seen < 12


def test_fixed_recipe_kernels(rng: np.random.Generator) -> None:
    hr = _hr(rng)
    bi = Degradation(0.0, 0.0, 0.0, kernel="bicubic")
    assert bi.margin == 8 and bi.to_dict()["method"] == "gaussian-blur+bicubic-downsample+noise"
    lr = degrade(hr, bi, np.random.default_rng(0), bi.margin)
    x = torch.from_numpy(hr.astype(np.float32))[None]
    full = F.interpolate(x, scale_factor=0.25, mode="bicubic", antialias=True, align_corners=False)[0]
    assert np.abs(lr.astype(int) - np.clip(np.rint(full.numpy()), 0, 255)[:, 2:-2, 2:-2]).max() <= 1
    # the area recipe is what it always was: blur, crop the context, block means
    area = Degradation(2.0, 2.0, 0.0)
    lr = degrade(hr, area, np.random.default_rng(0), area.margin)
    blurred = np.stack([gaussian_filter(b, 2.0, mode="reflect") for b in hr.astype(np.float32)])
    inner = blurred[:, area.margin : -area.margin, area.margin : -area.margin]
    side = inner.shape[1] // 4
    want = np.rint(inner.reshape(3, side, 4, side, 4).mean(axis=(2, 4)))
    assert np.abs(lr.astype(int) - want).max() <= 1
    with pytest.raises(UsageError, match="kernel"):
        Degradation(kernel="nearest")


def test_dataset_redraws_lr_of_degraded_datasets_only(make_prepared: Callable[..., Path]) -> None:
    pairs = make_prepared("pairs", lr_tile=16)
    aerial = make_prepared("aerial", lr_tile=16, degraded=True, seed=1)
    sources = open_sources([pairs, aerial])
    stored = TileDataset(sources, "train", 32)
    fresh = TileDataset(sources, "train", 32, RandomDegradation())
    n_pairs = len(TileDataset(sources[:1], "train"))
    for index, seed in ((0, 5), (n_pairs, 5), (n_pairs + 1, 9)):
        a, b, again = stored[(index, seed)], fresh[(index, seed)], fresh[(index, seed)]
        assert all(torch.equal(x, y) for x, y in zip(b[:3], again[:3], strict=True))  # a function of
        assert torch.allclose(b[3], again[3], equal_nan=True)  # (tile, seed), the softness too
        assert b[0].shape == (3, 8, 8) and b[1].shape == (3, 32, 32) and b[2].shape == (32, 32)
        assert torch.isnan(a[3]) and torch.isnan(b[3]) == (index < n_pairs)  # known for drawn LR only
        if index < n_pairs:  # real pairs keep their real LR
            assert all(torch.equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))
        else:
            assert not torch.equal(a[0], b[0])
    val = TileDataset(sources, "val", redegrade=RandomDegradation())
    assert torch.equal(val[len(val) - 1][0], val[len(val) - 1][0])  # whole tiles: a fixed draw per tile


def test_stored_prob_keeps_the_prepared_recipe_for_that_share_of_crops(
    make_prepared: Callable[..., Path],
) -> None:
    sources = open_sources([make_prepared("aerial", lr_tile=16, degraded=True)])
    stored = TileDataset(sources, "train", 32)
    mixed = TileDataset(sources, "train", 32, RandomDegradation(stored_prob=0.5))
    kept = []
    for seed in range(40):
        a, b = stored[(0, seed)], mixed[(0, seed)]
        same = all(torch.equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))
        assert same == bool(torch.isnan(b[3]))  # a kept crop is the stored one, softness unknown
        assert torch.equal(b[0], mixed[(0, seed)][0])  # a function of (tile, seed): resume stays exact
        kept.append(same)
    assert 10 <= sum(kept) <= 30
    val = TileDataset(sources, "val", redegrade=RandomDegradation(stored_prob=1.0))
    assert not torch.isnan(val[0][3])  # whole tiles (validation) always draw
    with pytest.raises(UsageError, match="probabilities"):
        RandomDegradation(stored_prob=1.5)


def test_invalid_hr_pixels_do_not_darken_the_drawn_lr(make_prepared: Callable[..., Path]) -> None:
    root = make_prepared("aerial", lr_tile=16, degraded=True)
    hr_path = scene_paths(root, "scene")[1]
    hr_all = np.load(hr_path)
    hr_all[:] = 200
    hr_all[:, :, 20:44, 20:44] = 0  # invalid pixels, zeroed in every band as prepare does
    np.save(hr_path, hr_all)
    manifest = load_manifest(root)
    save_manifest(root, replace(manifest, settings={**manifest.settings, "valid_fraction": 0.9}))
    clean = dict(noise_prob=0.0, sharpen_prob=0.0, jpeg_prob=0.0, sharp_prob=0.0)
    dataset = TileDataset(open_sources([root]), "train", 48, RandomDegradation(**clean))
    for seed in range(6):
        lr, hr, valid, softness = dataset[(0, seed)]
        assert softness > 0
        assert lr.min() >= 199 / 255 - 1e-6, seed  # without the fill, the blur pulls it to ~150 DN
        assert not valid.all() and torch.all(hr[:, ~valid] == 0)  # HR as stored: the loss masks them


def test_training_with_random_degradations_resumes_exactly(
    make_prepared: Callable[..., Path], tmp_path: Path
) -> None:
    data = make_prepared(lr_tile=8, degraded=True)
    settings = {"steps": 4, "degrade": "random", "upsampler": "shuffle-direct", "d_head": "patch",
                "d_highpass": 1.0, "pixel_lowpass": 1.0, "fm_weight": 0.5, "adv_loss": "ragan",
                "lr_schedule": "cosine", "d_augment": "color,translation,cutout"}  # fmt: skip
    full = TrainConfig(**{**TINY, **settings})  # type: ignore[arg-type]
    run_training([data], tmp_path / "straight", full)
    run_training([data], tmp_path / "resumed", TrainConfig(**{**full.to_dict(), "steps": 3}))
    run_training([data], tmp_path / "resumed", full, resume=True)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for key in ("g", "d", "ema", "opt_g", "opt_d"):
        _same(a[key], b[key], key)
    weights = load_weights(tmp_path / "straight" / "final.safetensors")
    assert weights.generator.spec.upsampler == "shuffle-direct"
    config = weights.metadata["training"]["config"]
    assert config["degrade"] == "random" and config["fm_weight"] == 0.5 and config["d_highpass"] == 1.0
    log = (tmp_path / "straight" / "log.csv").read_text()
    assert "loss_fm" in log.splitlines()[0]


def test_cosine_schedule_and_config_refusals() -> None:
    cfg = TrainConfig(pretrain_steps=100, lr_pretrain=1e-3, lr_schedule="cosine")
    lrs = [cfg.pretrain_lr(s) for s in (0, 50, 99)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[0] > lrs[1] > lrs[2] >= 1e-4
    assert TrainConfig().pretrain_lr(7) == TrainConfig().lr_pretrain
    for bad in ({"degrade": "sometimes"}, {"upsampler": "nearest"}, {"d_head": "pixel"},
                {"lr_schedule": "step"}, {"degrade": "random", "degrade_sharp_prob": 1.5},
                {"d_highpass": -1.0}, {"pixel_lowpass": float("nan")}, {"d_augment": "colour"}):  # fmt: skip
        with pytest.raises(UsageError):
            TrainConfig(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("architecture", ["srresnet", "span"])
def test_shuffle_direct_generators_start_as_bicubic_and_have_their_radius(architecture: str) -> None:
    if architecture == "srresnet":
        g = Generator(GeneratorSpec(features=8, blocks=2, upsampler="shuffle-direct")).eval()
    else:
        g = tiny_span().eval()
    lr = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        base = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
        assert torch.equal(g(lr), base)
        for p in g.parameters():
            torch.nn.init.normal_(p, std=0.1)
        moved = lr.clone()
        moved[:, :, 20, 20] += 1
        changed = (g(moved) - g(lr)).abs().amax(dim=(0, 1)) > 0
    rows = changed.any(dim=1).nonzero().flatten()
    reach = max(20 * 4 - int(rows.min()), int(rows.max()) - 20 * 4) / 4  # LR px
    assert reach <= g.receptive_radius and g.receptive_radius - reach < 3


def test_patch_discriminator_judges_every_region() -> None:
    d = Discriminator(bands=3, features=8, head="patch")
    scores, feats = d.scores_and_features(torch.rand(2, 3, 64, 64))
    assert scores.shape == (2, 8, 8) and len(feats) == 7
    assert Discriminator(bands=3, features=8)(torch.rand(2, 3, 48, 48)).shape == (2,)


def test_highpass_discriminator_judges_detail_not_tone() -> None:
    torch.manual_seed(0)
    d = Discriminator(bands=3, features=8, highpass=1.5)
    x = torch.rand(2, 3, 48, 48)
    toned = x + torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)  # another capture's colour
    assert torch.allclose(d(x), d(toned), atol=1e-5)
    checker = (torch.arange(48).view(-1, 1) + torch.arange(48)).remainder(2).float().expand(1, 3, 48, 48)
    assert torch.allclose(d.detail(checker), checker - 0.5, atol=0.02)  # finest detail passes whole
    plain = Discriminator(bands=3, features=8)
    assert torch.equal(plain.detail(x), x) and not torch.allclose(plain(x), plain(toned), atol=1e-5)


def test_augmented_discriminator_sees_a_new_view_each_training_call_and_passes_gradients() -> None:
    torch.manual_seed(0)
    d = Discriminator(bands=3, features=8, augment="color,translation,cutout")
    x = torch.rand(4, 3, 48, 48, requires_grad=True)
    first, second = d(x), d(x)
    assert not torch.allclose(first, second)  # a fresh colour, shift and cutout per call
    first.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G learns through the augmentation
    seen = d.detail(torch.full((4, 3, 48, 48), 0.5))
    assert seen.shape == (4, 3, 48, 48) and (seen == 0).flatten(1).any(1).all()  # each has a cut-out
    d.eval()
    assert torch.equal(d.detail(x), x) and torch.equal(d(x), d(x))  # judged as is outside training


def test_pixel_losses_score_valid_pixels_only() -> None:
    hr, sr = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 9.0)  # far off where the mask says nodata
    sr[..., :2] = 0.2
    valid = torch.zeros(1, 4, 4, dtype=torch.bool)
    valid[..., :2] = True
    assert PIXEL_LOSSES["l1"](sr, hr, valid).item() == pytest.approx(0.2)
    assert PIXEL_LOSSES["mse"](sr, hr, valid).item() == pytest.approx(0.04)


def test_lowpass_content_loss_leaves_the_detail_to_the_discriminator() -> None:
    torch.manual_seed(0)
    hr, valid = torch.rand(2, 3, 40, 40), torch.ones(2, 40, 40, dtype=torch.bool)
    grain = hr + 0.1 * torch.randn_like(hr)  # other fine detail, same scene
    shifted = hr + 0.05  # another tone: a low-frequency error
    ratio = content_loss(grain, hr, valid, 1.5) / content_loss(grain, hr, valid, 0.0)
    assert ratio.item() == pytest.approx(1 / (2 * np.pi**0.5 * 1.5), rel=0.1)  # white grain's std, blurred
    assert content_loss(shifted, hr, valid, 1.5).item() == pytest.approx(0.05, rel=1e-3)
    assert content_loss(shifted, hr, valid, 0.0).item() == pytest.approx(0.05, rel=1e-3)
    assert content_loss(shifted, hr, valid, 0.0, "mse").item() == pytest.approx(0.05**2, rel=1e-3)
    assert content_loss(grain, hr, valid, 0.0, "mse").item() == pytest.approx(0.1**2, rel=0.05)
