"""The realism metric: a classifier two-sample test that can fail (blur) and cannot be gamed (HR vs HR)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from satsr import SCALE, realism
from satsr.baselines import bicubic
from satsr.degrade import area_downsample
from satsr.metrics import Sample, Scorer
from satsr.normalise import Normalisation
from satsr.realism import CropBank, NetConfig, RealismConfig, halves, hr_control, two_sample_test, wilson

# Tiny crops and a short schedule: each classifier trains in well under a second.
TINY = RealismConfig(crop=16, place_cells=2, min_cells=4, net=NetConfig(width=8, steps=120, batch=32))
TILE = 64  # HR px per synthetic tile: 3 x 3 cells of 16 px (grid offset 8)


def aerial_like(rng: np.random.Generator, size: int = TILE) -> np.ndarray:
    """(3, size, size) uint8: sharp-edged rectangles (roofs, cars) on a textured ground, with sensor noise."""
    img = np.full((3, size, size), rng.uniform(60, 160, (3, 1, 1)))
    for _ in range(12):
        r, c = rng.integers(0, size - 4, 2)
        h, w = rng.integers(3, 16, 2)
        img[:, r : r + h, c : c + w] = rng.uniform(20, 235, (3, 1, 1))
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def blurred(hr: np.ndarray) -> np.ndarray:
    """Bicubic of the HR's own 4x area downsample: what an interpolator makes of a perfect LR."""
    lr = np.rint(area_downsample(hr.astype(np.float64), SCALE)).astype(np.uint8)
    return bicubic(lr[None], Normalisation.for_dtype("uint8", 3), SCALE)[0]


def tile_samples(rng: np.random.Generator, tiles: int = 36, make_fake=blurred) -> list[Sample]:
    """Tiles laid on a 6-wide grid of one scene, each with a scored 4 px shave, as evaluate makes them."""
    samples = []
    scored = np.zeros((TILE, TILE), bool)
    scored[4:-4, 4:-4] = True
    for i in range(tiles):
        hr = aerial_like(rng)
        origin = ("scene", (i // 6) * TILE, (i % 6) * TILE)
        fake = make_fake(hr).astype(np.float64)
        samples.append(Sample(fake, hr.astype(np.float64), scored, scored, origin=origin))
    return samples


def bank_of(samples: list[Sample], config: RealismConfig = TINY) -> CropBank:
    bank = CropBank(255.0, config)
    for s in samples:
        bank.add(s)
    return bank


def test_cells_lie_on_the_scene_grid_once_and_halves_split_by_place(rng: np.random.Generator) -> None:
    samples = tile_samples(rng, tiles=6)
    first = samples[0]
    overlap = Sample(first.sr, first.hr, first.valid, first.scored, origin=("scene", 0, 32))
    bank = bank_of([*samples, overlap])
    assert len(bank.keys) == 6 * 9 + 3  # 3 x 3 cells per tile; the shifted tile adds one new column only
    assert len(set(bank.keys)) == len(bank.keys)
    half = halves(bank.keys, TINY)
    by_place: dict[tuple, set[int]] = {}
    for key, h in zip(bank.keys, half, strict=True):
        by_place.setdefault(realism.place_of(key, TINY.place_cells), set()).add(int(h))
    assert all(len(sides) == 1 for sides in by_place.values())  # no place in both halves
    assert 0.35 < half.mean() < 0.65  # dealt so that both halves hold about as many crops


def test_bank_memory_is_bounded_by_a_spread_sample(rng: np.random.Generator) -> None:
    config = RealismConfig(crop=16, place_cells=2, max_cells=40)
    bank = bank_of(tile_samples(rng, tiles=12), config)
    everything = bank_of(tile_samples(np.random.default_rng(0), tiles=12))
    assert len(bank.keys) == 40 < len(everything.keys) and len(set(bank.keys)) == 40
    assert {k[1] for k in bank.keys} == {k[1] for k in everything.keys}  # still spread over every row


def test_blurred_hr_is_told_apart_in_both_directions(rng: np.random.Generator) -> None:
    bank = bank_of(tile_samples(rng))
    fake, real = bank.arrays()
    result = two_sample_test(fake, real, bank.keys, TINY)
    assert len(result.folds) == 2  # trained on each half, tested on the other: both reported
    assert all(f.accuracy > 0.85 for f in result.folds), result.folds
    assert result.accuracy > 0.9 and result.paired_accuracy > 0.9
    low, high = wilson(result.correct, result.total)
    assert low < result.accuracy < high <= 1.0


def test_hr_against_hr_scores_about_half(rng: np.random.Generator) -> None:
    bank = bank_of(tile_samples(rng))
    _, real = bank.arrays()
    control = hr_control(real, bank.keys, TINY)
    assert len(control.folds) == 2
    assert 0.35 < control.accuracy < 0.65, control.folds
    # the same HR drawn again at the same places (another noise draw) is no more separable than HR itself
    again = bank_of(tile_samples(np.random.default_rng(0), make_fake=lambda hr: hr))
    fake, real = again.arrays()
    assert 0.35 < two_sample_test(fake, real, again.keys, TINY).accuracy < 0.65


def test_deterministic_for_a_seed_and_leaves_torch_rng_alone(rng: np.random.Generator) -> None:
    bank = bank_of(tile_samples(rng, tiles=24))
    fake, real = bank.arrays()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = two_sample_test(fake, real, bank.keys, TINY)
    assert torch.rand(1) == before  # the caller's random stream is untouched
    assert two_sample_test(fake, real, bank.keys, TINY).folds == first.folds


def test_too_few_cells_give_nan_not_a_number_that_means_nothing() -> None:
    rng = np.random.default_rng(1)
    bank = bank_of(tile_samples(rng, tiles=1))  # 9 cells: fewer than 8 in each half
    fake, real = bank.arrays()
    result = two_sample_test(fake, real, bank.keys, replace(TINY, min_cells=8))
    assert result.folds == () and np.isnan(result.accuracy)


def test_realism_in_the_metric_kit(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realism, "DEFAULT", TINY)
    scorer = Scorer(("psnr", "realism"), 3, 255.0)
    for s in tile_samples(rng):
        scorer.update(s)
    result = scorer.results()["realism"]
    assert not result.higher_is_better and result.bands == ()
    assert result.overall > 0.9 and result.extra["low"] < result.overall < result.extra["high"]
    assert {"half1_to_half2", "half2_to_half1", "paired_accuracy", "hr_vs_hr_accuracy"} <= set(result.extra)
    assert 0.3 < result.extra["hr_vs_hr_accuracy"] < 0.7


def test_evaluate_cli_reports_realism_beside_baselines(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from satsr.cli import app
    from tests.test_evaluate import make_dataset, tiny_weights

    monkeypatch.setattr(realism, "DEFAULT", TINY)
    data = make_dataset(tmp_path / "data", rng, tiles=24, lr_tile=16)
    out = tmp_path / "r.json"
    args = ["evaluate", str(tiny_weights(tmp_path / "w.safetensors", True)), str(data), "--metrics",
            "psnr,realism", "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "realism" in result.output and "HR vs HR control" in result.output
    report = json.loads(out.read_text())
    for method in ("sr", "bicubic", "lanczos"):
        score = report["scores"][method]["realism"]
        assert 0.0 <= score["overall"] <= 1.0 and score["extra"]["cells"] == 12 * 9
    controls = {report["scores"][m]["realism"]["extra"]["hr_vs_hr_accuracy"] for m in report["scores"]}
    assert len(controls) == 1  # one HR, one control, shared by every method
