"""satsr evaluate: metrics against independent computations, masks, baselines, dataset and raster modes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from satsr import SCALE
from satsr.degrade import area_downsample
from satsr.errors import GeoMismatchError, UsageError
from satsr.evaluate import EvaluateOptions, evaluate_dataset, interior
from satsr.metrics import Sample, Scorer, parse_metrics
from satsr.normalise import Normalisation
from tests.conftest import RasterFactory
from tests.support import run_cli, save_tiny_weights, smooth_image, tiny_generator, write_prepared


def sample(sr: np.ndarray, hr: np.ndarray, valid: np.ndarray | None = None, shave: int = 0) -> Sample:
    valid = np.ones(hr.shape[1:], bool) if valid is None else valid
    return Sample(
        sr.astype(float), hr.astype(float), valid, valid & interior(hr.shape[1], hr.shape[2], shave)
    )


def score(samples: list[Sample], names: str = "psnr,mse", data_range: float = 255.0) -> dict:
    scorer = Scorer(parse_metrics(names), samples[0].sr.shape[0], data_range)
    for s in samples:
        scorer.update(s)
    return scorer.results()


def test_psnr_mse_match_skimage_and_pool_across_tiles(rng: np.random.Generator) -> None:
    hr = [smooth_image(rng, 3, 32, 32) for _ in range(3)]
    sr = [np.clip(h + rng.normal(0, 4 + 6 * i, h.shape), 0, 255).astype(np.uint8) for i, h in enumerate(hr)]
    out = score([sample(s, h, shave=2) for s, h in zip(sr, hr, strict=True)])
    inner = (slice(None), slice(2, 30), slice(2, 30))
    hr_all = np.concatenate([h[inner].ravel() for h in hr])
    sr_all = np.concatenate([s[inner].ravel() for s in sr])
    mse = float(np.mean((hr_all.astype(float) - sr_all) ** 2))
    assert out["mse"].overall == pytest.approx(mse, rel=1e-9)
    assert abs(out["psnr"].overall - peak_signal_noise_ratio(hr_all, sr_all, data_range=255)) < 0.01
    hr0, sr0 = (np.concatenate([x[0][inner[1:]].ravel() for x in xs]) for xs in (hr, sr))
    band0 = peak_signal_noise_ratio(hr0, sr0, data_range=255)
    assert abs(out["psnr"].bands[0] - band0) < 0.01
    # pooled PSNR differs from the mean of per-tile PSNRs, which is reported separately
    assert out["psnr"].extra["mean_tile_psnr"] != pytest.approx(out["psnr"].overall, abs=0.05)


def test_psnr_gain_interval_redraws_whole_places(rng: np.random.Generator) -> None:
    """Half the error at every place is 10 log10 2 dB in every bootstrap draw; a gain that changes sign
    from place to place gives an interval around zero; places that do not match give no interval."""
    from satsr.metrics import place_key
    from satsr.report import paired_psnr_interval

    base = {f"p{i}": (float(e), 300) for i, e in enumerate(rng.uniform(50, 500, 12))}
    half = {k: (e / 2, n) for k, (e, n) in base.items()}
    assert paired_psnr_interval(half, base) == pytest.approx((10 * math.log10(2),) * 2)
    a = {f"p{i}": (1.0 if i % 2 else 4.0, 300) for i in range(12)}
    b = {f"p{i}": (4.0 if i % 2 else 1.0, 300) for i in range(12)}
    low, high = paired_psnr_interval(a, b)
    assert low < -0.5 and high > 0.5  # swapped errors: a gain of 0 dB, uncertain in both directions
    assert all(map(math.isnan, paired_psnr_interval(half, base | {"other": (1.0, 300)})))
    # tiles in the same block of PLACE_PX HR px are one place; a tile without origin is its own
    scored = score([Sample(h + 3, h, np.ones((8, 8), bool), np.ones((8, 8), bool), origin=("s", r, 0))
                    for h, r in ((np.zeros((3, 8, 8)), r) for r in (0, 256, 600))])["psnr"]  # fmt: skip
    assert scored.places == {"s/0/0": (2 * 9 * 192.0, 2 * 192), "s/1/0": (9 * 192.0, 192)}
    assert place_key(None, 7) == "tile 7"


def test_identical_and_constant_images(rng: np.random.Generator) -> None:
    hr = smooth_image(rng, 3, 32, 32)
    same = score([sample(hr, hr)], "psnr,mse,ssim,sharpness")
    assert same["psnr"].overall == math.inf and same["mse"].overall == 0
    assert same["ssim"].overall == pytest.approx(1.0) and same["sharpness"].overall == pytest.approx(1.0)
    flat = np.full_like(hr, 128)
    out = score([sample(flat, hr)], "psnr,mse,sharpness")
    expected = peak_signal_noise_ratio(hr, flat, data_range=255)
    assert abs(out["psnr"].overall - expected) < 0.01 and out["sharpness"].overall == 0


def test_ssim_matches_skimage_when_all_valid(rng: np.random.Generator) -> None:
    hr = smooth_image(rng, 1, 40, 40)
    sr = np.clip(hr + rng.normal(0, 8, hr.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(hr[0], sr[0], data_range=255, win_size=7)
    assert score([sample(sr, hr)], "ssim")["ssim"].overall == pytest.approx(expected, abs=1e-9)


def test_masked_pixels_change_nothing(rng: np.random.Generator) -> None:
    hr = smooth_image(rng, 3, 128, 128)
    sr = np.clip(hr + rng.normal(0, 6, hr.shape), 0, 255).astype(np.uint8)
    valid = np.ones((128, 128), bool)
    valid[70:90, 60:100] = False
    names = "psnr,mse,mae,ssim,sharpness"
    before = score([sample(sr, hr, valid)], names)
    sr2, hr2 = sr.copy(), hr.copy()
    sr2[:, ~valid], hr2[:, ~valid] = 0, 255
    after = score([sample(sr2, hr2, valid)], names)
    for name in names.split(","):
        assert after[name].overall == before[name].overall, name
    assert before["mse"].count == valid.sum() and before["sharpness"].count == 2


def test_unknown_metric_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="psnr, mse, ssim, mae"):
        parse_metrics("psnr,lpips")
    result = run_cli("evaluate", "--sr", "x.tif", "--hr", "y.tif", "--metrics", "psnr,bogus")
    assert result.returncode == 2 and "bogus" in result.stderr and "ssim" in result.stderr


def test_lr_consistency_of_bicubic_is_high_and_of_noise_low(rng: np.random.Generator) -> None:
    from satsr.baselines import bicubic

    hr = smooth_image(rng, 3, 64, 64)
    lr = np.rint(area_downsample(hr.astype(float), SCALE)).astype(np.uint8)
    up = bicubic(lr[None], Normalisation.for_dtype("uint8", 3), SCALE)[0]
    noise = rng.integers(0, 256, hr.shape).astype(np.uint8)

    def lr_psnr(sr: np.ndarray) -> float:
        lr_scored = interior(16, 16, 1)
        s = Sample(
            sr.astype(float), None, np.ones((64, 64), bool), interior(64, 64, 4), lr.astype(float), lr_scored
        )
        return score([s], "lr_psnr")["lr_psnr"].overall

    assert lr_psnr(up) > 35 and lr_psnr(noise) < 20  # noise is unrelated to the LR


def test_lanczos_baseline_is_gdal_warp(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    from satsr.baselines import lanczos

    lr = smooth_image(rng, 3, 24, 24)
    path = make_raster("lr.tif", lr)
    with rasterio.open(path) as src:
        t = src.transform
        vrt_grid = {"crs": src.crs, "transform": t @ t.scale(1 / SCALE), "width": 96, "height": 96}
        with WarpedVRT(src, resampling=Resampling.lanczos, **vrt_grid) as vrt:
            expected = vrt.read()
    assert np.array_equal(lanczos(lr, SCALE)[:, 12:-12, 12:-12], expected[:, 12:-12, 12:-12])


# --- dataset mode ---------------------------------------------------------------------------------------


def make_dataset(root: Path, rng: np.random.Generator, tiles: int = 6, lr_tile: int = 12) -> Path:
    """A tiny prepared dataset: smooth HR tiles, LR = area-averaged HR; every other tile in test."""
    splits = ["test" if i % 2 == 0 else "train" for i in range(tiles)]
    return write_prepared(root, lr_tile=lr_tile, splits=splits, scene_name="fake", rng=rng)


def tiny_weights(path: Path, trained: bool) -> Path:
    # trained: a non-zero tail, the model then differs from bicubic
    g = tiny_generator(detail=0.01 if trained else 0, seed=None)
    return save_tiny_weights(path, g, metadata={"command": "test"})


def test_dataset_mode_fresh_generator_equals_bicubic(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("satsr.metrics.PLACE_PX", 48)  # one place per 48 px HR tile
    data = make_dataset(tmp_path / "data", rng)
    report = evaluate_dataset(tiny_weights(tmp_path / "w.safetensors", False), data,
                              EvaluateOptions(batch=2, figure_tiles=2))  # fmt: skip
    assert report.counts["tiles"] == 3 and len(report.scores["sr"]["psnr"].places) == 3
    assert report.gain("bicubic", "psnr") == 0.0  # an untrained generator is exactly bicubic
    assert report.psnr_gain_interval("bicubic") == (0.0, 0.0)  # ... at every place, in every draw
    assert report.scores["sr"]["sharpness"].overall < 1.0
    assert report.scores["lanczos"]["psnr"].overall > 30  # smooth imagery: every interpolator does well
    assert len(report.crops) == 2 and report.crops[0]["HR"].shape == (3, 48, 48)


def test_dataset_mode_end_to_end_cli(tmp_path: Path, rng: np.random.Generator) -> None:
    data = make_dataset(tmp_path / "data", rng)
    weights = tiny_weights(tmp_path / "w.safetensors", True)
    out_json, out_png = tmp_path / "r" / "report.json", tmp_path / "r" / "fig.png"
    args = ["evaluate", str(weights), str(data), "--metrics", "psnr,mse,ssim", "--json", str(out_json),
            "--figure", str(out_png), "--precision", "fp32"]  # fmt: skip
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    report = json.loads(out_json.read_text())
    assert report["settings"]["split"] == "test" and report["settings"]["data_range"] == 255
    assert report["settings"]["shave_hr_px"] == 4 and report["counts"]["tiles"] == 3
    assert report["settings"]["precision"] == "fp32"
    assert set(report["scores"]) == {"sr", "bicubic", "lanczos"}
    assert set(report["scores"]["sr"]) == {"psnr", "mse", "ssim"}
    assert report["gain_over"]["bicubic"]["psnr"] != 0
    # 3 tiles of one scene, all within one place: too few places for an interval, said as nan
    assert report["psnr_gain_interval"]["bicubic"] == ["nan", "nan"] and "gain, 95 %" in result.stdout
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PSNR" in result.stdout and "lanczos" in result.stdout
    again = run_cli(*args)
    assert again.returncode == 1 and "--overwrite" in again.stderr


def test_self_ensemble_scores_the_model_only_and_is_recorded(tmp_path: Path, rng: np.random.Generator):
    data = make_dataset(tmp_path / "data", rng)
    weights = tiny_weights(tmp_path / "w.safetensors", True)
    plain, ensemble = (evaluate_dataset(weights, data, EvaluateOptions(precision="fp32", self_ensemble=on))
                       for on in (False, True))  # fmt: skip
    assert ensemble.settings["self_ensemble"] and not plain.settings["self_ensemble"]
    assert ensemble.scores["sr"]["psnr"].overall != plain.scores["sr"]["psnr"].overall
    for baseline in ("bicubic", "lanczos"):
        assert ensemble.scores[baseline]["psnr"].overall == plain.scores[baseline]["psnr"].overall
    refused = run_cli("evaluate", "--sr", "x.tif", "--hr", "y.tif", "--self-ensemble")
    assert refused.returncode == 2 and "--self-ensemble" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr


# --- raster modes ---------------------------------------------------------------------------------------


def raster_pair(
    make_raster: RasterFactory, rng: np.random.Generator, size: int = 40, **hr_kw: object
) -> tuple[Path, Path]:
    """LR (size px at 0.3 m) and HR (4x finer, same footprint): HR smooth, LR its area average."""
    hr = smooth_image(rng, 3, size * SCALE, size * SCALE)
    lr = np.rint(area_downsample(hr.astype(float), SCALE)).astype(np.uint8)
    return make_raster("lr.tif", lr), make_raster("hr.tif", hr, res=0.3 / SCALE, **hr_kw)


def test_model_on_raster_pair_fresh_generator_equals_bicubic(
    make_raster: RasterFactory, tmp_path: Path, rng: np.random.Generator
) -> None:
    from satsr.evaluate_raster import evaluate_model_on_pair

    lr, hr = raster_pair(make_raster, rng)
    options = EvaluateOptions(window=64, figure_crop=32, figure_tiles=2)
    report = evaluate_model_on_pair(tiny_weights(tmp_path / "w.safetensors", False), lr, hr, options)
    # upscale_file with an untrained generator is bicubic: same pixels, same score as the baseline
    assert report.gain("bicubic", "psnr") == pytest.approx(0.0, abs=1e-9)
    assert report.scores["lanczos"]["psnr"].overall > 30
    assert report.counts["windows"] == 9 and report.counts["scored_pixels_per_band"] == 152 * 152
    assert len(report.crops) == 2


def test_model_on_raster_pair_scores_what_upscale_writes_for_a_noise_injected_generator(
    make_raster: RasterFactory, tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its windows are not upscale's tiles: only noise keyed on scene position makes the scores agree."""
    import torch

    import satsr.inference
    from satsr.evaluate_raster import evaluate_model_on_pair, evaluate_rasters
    from satsr.upscale import UpscaleOptions, upscale_file
    from satsr.weights import load_weights

    generator = tiny_generator(detail=0.05, upsampler="shuffle-direct", noise=True)
    for inject in generator.noise_in:
        torch.nn.init.normal_(inject.weight, std=0.5)
    path = save_tiny_weights(tmp_path / "noise.safetensors", generator)
    lr, hr = raster_pair(make_raster, rng)
    options = EvaluateOptions(window=64, figure_tiles=0, precision="fp32")
    psnr = lambda: evaluate_model_on_pair(path, lr, hr, options).scores["sr"]["psnr"].overall  # noqa: E731
    upscaled = UpscaleOptions(tile=16, precision="fp32")
    sr = upscale_file(lr, tmp_path / "sr.tif", load_weights(path), upscaled).dst
    written = evaluate_rasters(sr, hr, lr, options).scores["sr"]["psnr"].overall
    assert psnr() == pytest.approx(written, abs=1e-3)
    keyed = satsr.inference.noise_inputs
    monkeypatch.setattr(satsr.inference, "noise_inputs", lambda g, x, origins: keyed(g, x, None))
    assert abs(psnr() - written) > 0.01  # each window's noise as if at the scene's corner: it shows


def test_sr_raster_identical_to_hr_gives_inf_json_safe(
    make_raster: RasterFactory, tmp_path: Path, rng: np.random.Generator
) -> None:
    lr, hr = raster_pair(make_raster, rng, size=16)
    out = tmp_path / "r.json"
    result = run_cli("evaluate", "--sr", str(hr), "--hr", str(hr), "--lr", str(lr), "--json", str(out),
                     "--metrics", "psnr,mse,lr_psnr")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())  # strict JSON: no Infinity literal
    assert (
        report["scores"]["sr"]["psnr"]["overall"] == "inf" and report["scores"]["sr"]["mse"]["overall"] == 0
    )
    assert report["gain_over"]["bicubic"]["psnr"] == "inf"
    assert report["scores"]["sr"]["lr_psnr"]["overall"] > 45  # LR is the rounded area average of HR


def test_sr_raster_masks_and_lr_only(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    from satsr.evaluate_raster import evaluate_rasters

    mask = np.ones((64, 64), bool)
    mask[:, :32] = False
    lr, hr = raster_pair(make_raster, rng, size=16, mask=mask)
    sr = make_raster("sr.tif", smooth_image(rng, 3, 64, 64), res=0.3 / SCALE)
    report = evaluate_rasters(sr, hr, lr, EvaluateOptions(window=32, shave=4))
    assert report.scores["sr"]["psnr"].count == (64 - 8) * (32 - 4)  # the masked half is left out
    lr_only = evaluate_rasters(sr, None, lr, EvaluateOptions(metrics=("psnr", "lr_psnr")))
    assert set(lr_only.scores["sr"]) == {"lr_psnr"} and lr_only.scores["sr"]["lr_psnr"].count == 14 * 14
    with pytest.raises(UsageError, match="lr_psnr"):
        evaluate_rasters(sr, None, lr, EvaluateOptions(metrics=("psnr",)))


def test_grid_mismatch_is_a_clear_error(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    from satsr.evaluate_raster import evaluate_rasters

    lr, hr = raster_pair(make_raster, rng, size=16)
    shifted = make_raster(
        "shifted.tif", smooth_image(rng, 3, 64, 64), res=0.3 / SCALE, origin=(500_010.0, 4e6)
    )
    with pytest.raises(GeoMismatchError, match="not on the grid"):
        evaluate_rasters(shifted, hr, None)
    with pytest.raises(GeoMismatchError, match="4x upscale"):
        evaluate_rasters(shifted, None, lr)
    result = run_cli("evaluate", "--sr", str(shifted), "--hr", str(hr))
    assert result.returncode == 1 and "not on the grid" in result.stderr and "Traceback" not in result.stderr


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pairs"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")
def test_real_nairobi_pair_untrained_generator_ties_bicubic(tmp_path: Path) -> None:
    import rasterio
    from rasterio.windows import Window

    from satsr.evaluate_raster import evaluate_model_on_pair

    # a fully valid 128 px LR crop of the Nairobi pair; the HR is aligned by georeference, not cropped
    with rasterio.open(SHARED / "nairobi_satellite_30cm.tif") as src:
        window = Window(3584, 0, 128, 128)
        profile = {**src.profile, "width": 128, "height": 128, "transform": src.window_transform(window)}
        lr = tmp_path / "lr.tif"
        with rasterio.open(lr, "w", **profile) as dst:
            dst.write(src.read(window=window))
    hr = SHARED / "nairobi_aerial_7.5cm.tif"
    report = evaluate_model_on_pair(tiny_weights(tmp_path / "w.safetensors", False), lr, hr)
    assert report.gain("bicubic", "psnr") == pytest.approx(0.0, abs=1e-9)
    assert abs(report.gain("lanczos", "psnr")) < 1.0 and report.scores["sr"]["psnr"].overall > 30
    assert report.scores["sr"]["lr_psnr"].overall > 40 and report.scores["sr"]["sharpness"].overall < 1


def test_raster_lanczos_windows_equal_a_warp_of_the_whole_scene(
    make_raster: RasterFactory, rng: np.random.Generator
) -> None:
    """Window by window with context, masked pixels and the scene edges included: `gdalwarp -r lanczos`."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    from satsr.align import aligned_hr
    from satsr.evaluate_raster import _lanczos_window
    from satsr.raster import read_window
    from satsr.tiling import covering_tiles

    mask = np.ones((30, 26), bool)
    mask[5:9, 3:12] = False
    path = make_raster("lr.tif", smooth_image(rng, 3, 30, 26), mask=mask)
    with rasterio.open(path) as src, aligned_hr(src, src, SCALE, Resampling.lanczos) as warped:
        for win in covering_tiles(26 * SCALE, 30 * SCALE, 32):
            s = SCALE
            lr_win = Window(win.col_off // s, win.row_off // s, win.width // s, win.height // s)
            expected, valid = read_window(warped, win, [1, 2, 3])
            got = _lanczos_window(src, lr_win, [1, 2, 3], SCALE)
            assert np.array_equal(np.where(valid, got, 0), np.where(valid, expected, 0)), win
