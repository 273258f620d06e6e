"""Generators by registry and scale as data: a second architecture is one class plus one registry entry,
and a 2x model goes through prepare -> train -> evaluate -> upscale with the same code as the 4x ones."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from satsr.config import TrainConfig
from satsr.errors import UsageError, WeightsError
from satsr.gan import load_init
from satsr.generators import GENERATORS
from satsr.models import NOISE_CHANNELS, position_noise
from satsr.reparam import RepConv, fold, reparameterise
from satsr.span import SpanGenerator
from satsr.spec import Spec
from satsr.train import run_training
from satsr.upscale import UpscaleOptions, upscale_file
from satsr.weights import load_weights
from tests.support import TINY_TRAIN, run_cli, save_tiny_weights, smooth_image, tiny_generator

TINY = {**TINY_TRAIN, "hr_crop": 32, "batch_size": 2, "sample_tiles": 1, "steps": 2, "pretrain_steps": 1}


@dataclass(frozen=True)
class ToySpec(Spec):
    bands: int = 3
    features: int = 4
    scale: int = 4


class ToyGenerator(nn.Module):
    """One conv to bands x scale^2 channels, one pixel shuffle, on top of bicubic: the smallest generator."""

    Spec: ClassVar[type[ToySpec]] = ToySpec

    def __init__(self, spec: ToySpec = ToySpec()) -> None:
        super().__init__()
        self.spec = spec
        out = spec.bands * spec.scale**2
        self.body = nn.Sequential(nn.Conv2d(spec.bands, spec.features, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(spec.features, out, 3, padding=1))  # fmt: skip
        self.shuffle = nn.PixelShuffle(spec.scale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        scale = self.spec.scale
        base = F.interpolate(lr.contiguous(), scale_factor=scale, mode="bicubic", align_corners=False)
        return base + self.shuffle(self.body(lr))

    @property
    def receptive_radius(self) -> int:
        return 4  # two 3x3 convs and the bicubic support, in LR px


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GENERATORS, "toy", ToyGenerator)  # the one line a new architecture adds


def test_a_registered_architecture_trains_saves_loads_and_upscales(
    toy, make_prepared, make_raster, tmp_path: Path
) -> None:
    data = make_prepared(lr_tile=12)
    run = tmp_path / "run"
    run_training([data], run, TrainConfig(**{**TINY, "generator": "toy"}))  # type: ignore[arg-type]
    loaded = load_weights(run / "final.safetensors")
    assert isinstance(loaded.generator, ToyGenerator) and loaded.meta.architecture == "toy"
    assert loaded.metadata["architecture"] == {"name": "toy", "bands": 3, "features": 8, "scale": 4}
    lr = smooth_image(np.random.default_rng(0), 3, 40, 40)
    out = upscale_file(make_raster("lr.tif", lr), tmp_path / "sr.tif", loaded, UpscaleOptions(tile=16))
    assert out.hr_size == (160, 160)
    with rasterio.open(out.dst) as ds:
        assert ds.read().shape == (3, 160, 160) and ds.tags()["SATSR_SCALE"] == "4"


def test_span_trains_saves_loads_and_upscales(make_prepared, make_raster, tmp_path: Path) -> None:
    data = make_prepared(lr_tile=12)
    run = tmp_path / "run"
    run_training([data], run, TrainConfig(**{**TINY, "generator": "span", "blocks": 2}))  # type: ignore[arg-type]
    loaded = load_weights(run / "final.safetensors")
    assert isinstance(loaded.generator, SpanGenerator)
    spec = {"name": "span", "bands": 3, "features": 8, "blocks": 2, "scale": 4}
    assert loaded.metadata["architecture"] == spec
    assert loaded.generator.upsample[0].weight.any()  # trained: more than the bicubic it starts as
    out = upscale_file(make_raster("lr.tif", smooth_image(np.random.default_rng(0), 3, 40, 40)),
                       tmp_path / "sr.tif", loaded, UpscaleOptions(tile=16))  # fmt: skip
    assert out.hr_size == (160, 160)
    result = run_cli("info", run / "final.safetensors")
    assert result.returncode == 0 and "span" in result.stdout and "8 features, 2 blocks" in result.stdout


@pytest.mark.parametrize("option", ["conditioned", "noise", "reparam"])
def test_srresnet_options_are_refused_for_another_generator(option: str) -> None:
    with pytest.raises(UsageError, match=f"{option}: only generator 'srresnet' has this"):
        TrainConfig(generator="span", **{option: True})  # type: ignore[arg-type]


def test_unknown_architecture_is_one_clear_line(toy, tmp_path: Path) -> None:
    path = save_tiny_weights(tmp_path / "toy.safetensors", ToyGenerator())
    del GENERATORS["toy"]  # a file from a satsr that knows more architectures than this one
    with pytest.raises(WeightsError, match=r"'toy' is not one this satsr builds \(srresnet, span\)"):
        load_weights(path)
    result = run_cli("info", path)
    assert result.returncode == 1 and "architecture 'toy'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_weights_without_newer_spec_fields_load_with_defaults(tmp_path: Path) -> None:
    """A file written before a spec field existed gets the field's default (older files stay loadable);
    names the spec does not know are ignored."""
    path = save_tiny_weights(tmp_path / "w.safetensors", tiny_generator(detail=0.05, blocks=8))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["satsr"])
    meta["architecture"] = {k: v for k, v in meta["architecture"].items() if k != "blocks"} | {"extra": 1}
    save_file(load_file(str(path)), str(tmp_path / "old.safetensors"), metadata={"satsr": json.dumps(meta)})
    old, new = load_weights(tmp_path / "old.safetensors"), load_weights(path)
    assert old.generator.spec == new.generator.spec and old.generator.spec.blocks == 8
    x = torch.rand(1, 3, 12, 12)
    assert torch.equal(old.generator(x), new.generator(x))


def test_position_noise_is_standard_normal_and_keyed_on_position() -> None:
    noise = position_noise(torch.tensor([[0, 0], [5, -7]]), 64, 48)
    assert noise.shape == (2, NOISE_CHANNELS, 64, 48)
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1) < 0.02 and abs((noise**4).mean() - 3) < 0.1
    pairs = [(noise[0, 0, :, :-1], noise[0, 0, :, 1:]), (noise[0, 0], noise[0, 1]), (noise[0], noise[1])]
    for a, b in pairs:  # neighbours, maps and tiles are independent
        assert abs(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]) < 0.03
    field = position_noise(torch.tensor([[-10, -20]]), 90, 90)  # a larger window holding both tiles
    assert torch.equal(field[0, :, 10:74, 20:68], noise[0])
    assert torch.equal(field[0, :, 15:79, 13:61], noise[1])


def test_noise_injection_starts_at_zero_and_draws_texture() -> None:
    plain = tiny_generator(detail=0.05, upsampler="shuffle-direct")
    noisy = tiny_generator(detail=0.05, upsampler="shuffle-direct", noise=True, seed=1)
    load_init(noisy, plain)
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(noisy.eval()(x), plain.eval()(x))  # zero injections: exactly its init
        for inject in noisy.noise_in:
            nn.init.normal_(inject.weight, std=0.5)
        assert torch.equal(noisy(x), noisy(x)) and not torch.equal(noisy(x), plain(x))  # fixed in inference
        assert not torch.equal(noisy.train()(x), noisy(x))  # fresh in training
    with pytest.raises(RuntimeError, match="noise_in"):
        load_init(plain, noisy)


def test_a_generator_grows_deeper_from_trained_weights() -> None:
    shallow = tiny_generator(detail=0.05, upsampler="shuffle-direct")
    deep = tiny_generator(detail=0.05, upsampler="shuffle-direct", blocks=3, seed=1)
    load_init(deep, shallow)
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(deep.eval()(x), shallow.eval()(x))  # appended blocks pass their input on
    assert all(not block.body[-1].weight.any() and block.body[0].weight.any() for block in deep.trunk[1:])
    with pytest.raises(RuntimeError, match=r"trunk\.1\."):
        load_init(shallow, deep)


def test_a_reparameterised_generator_starts_as_and_folds_to_a_plain_one() -> None:
    plain = tiny_generator(detail=0.05, upsampler="shuffle-direct", blocks=2).eval()
    multi = reparameterise(copy.deepcopy(plain))
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(multi(x), plain(x))  # the extra branches start at zero
        for rep in (m for m in multi.modules() if isinstance(m, RepConv)):
            for branch in (rep.pointwise.weight, rep.identity, rep.squeeze.weight):
                nn.init.normal_(branch, std=0.05)
        trained = multi(x)
        folded = fold(copy.deepcopy(multi))
        assert not torch.allclose(trained, plain(x), atol=1e-3)  # the branches do change the function
        torch.testing.assert_close(folded(x), trained, rtol=0, atol=1e-5)
    assert folded.state_dict().keys() == plain.state_dict().keys()
    assert not any(isinstance(m, RepConv) for m in folded.modules())
    with pytest.raises(ValueError, match="3x3"):
        RepConv(nn.Conv2d(4, 4, 1))


@pytest.mark.parametrize("scale", [2, 8])
def test_generator_builds_one_x2_stage_per_factor_of_two(scale: int) -> None:
    g = tiny_generator(scale=scale, detail=0.1)
    x = torch.rand(1, 3, 10, 10)
    folded = g.eval()(x)  # inference folds the last shuffle after the tail: the same maths
    assert folded.shape == (1, 3, 10 * scale, 10 * scale)
    assert torch.allclose(folded, g.train()(x), atol=1e-5)
    assert len(g.upsample) == 3 * (scale.bit_length() - 1)


def test_a_2x_model_end_to_end(make_raster, tmp_path: Path) -> None:
    """prepare --scale 2 -> train -> evaluate -> upscale: the output pixel is half the input's."""
    rng = np.random.default_rng(0)
    hr = smooth_image(rng, 3, 256, 256)
    lr = np.rint(hr.reshape(3, 128, 2, 128, 2).mean(axis=(2, 4))).astype(np.uint8)
    lr_path = make_raster("place_satellite.tif", lr)
    hr_path = make_raster("place_aerial.tif", hr, res=0.15)
    data = tmp_path / "data"
    prepared = run_cli("prepare", lr_path, hr_path, "-o", data, "--scale", "2", "--tile", "16",
                       "--block", "2", "--max-shift", "2")  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    assert json.loads((data / "manifest.json").read_text())["scale"] == 2
    run = tmp_path / "run"
    cfg = TrainConfig(**{**TINY, "hr_crop": 16, "steps": 3, "pretrain_steps": 3})  # type: ignore[arg-type]
    run_training([data], run, cfg)
    weights = run / "psnr.safetensors"
    assert load_weights(weights).scale == 2
    report = tmp_path / "report.json"
    evaluated = run_cli("evaluate", weights, data, "--metrics", "psnr,lr_psnr", "--json", report)
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(report.read_text())
    assert scores["settings"]["scale"] == 2 and scores["scores"]["sr"]["psnr"]["overall"] > 20
    out = tmp_path / "place_x2.tif"
    upscaled = run_cli("upscale", lr_path, "-o", out, "--weights", weights)
    assert upscaled.returncode == 0, upscaled.stderr
    with rasterio.open(lr_path) as src, rasterio.open(out) as dst:
        assert (dst.width, dst.height) == (2 * src.width, 2 * src.height)
        assert dst.transform == src.transform * src.transform.scale(0.5)
        assert dst.tags()["SATSR_SCALE"] == "2" and dst.crs == src.crs
