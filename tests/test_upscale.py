"""satsr upscale: seam-free tiling, georeferencing, validity, radiometry, many scenes, safe writes, COG."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F
from affine import Affine
from rasterio.enums import ColorInterp

from satsr.baselines import run_generator
from satsr.errors import DataError, OutputExistsError, UsageError, WeightsError
from satsr.inference import SelfEnsemble
from satsr.models import Generator, GeneratorSpec
from satsr.normalise import Normalisation
from satsr.precision import resolve_precision
from satsr.scenes import collect_scenes, output_paths
from satsr.upscale import UpscaleOptions, upscale_file, upscale_many
from satsr.weights import LoadedWeights, load_weights, save_weights
from tests import support
from tests.support import InlineExecutor, save_tiny_weights, smooth_image, tiny_generator, tiny_span

GEOGRAPHIC = Affine(2.7e-6, 0, 2.35, 0, -2.7e-6, 48.86)  # ~30 cm pixels in degrees (Paris)


def tiny_weights(
    tmp_path: Path, bands: int = 3, dtype: str = "uint8", detail: bool = True, upsampler: str = "x2-stages"
) -> LoadedWeights:
    """A features=8, blocks=1 srresnet with this upsampler (or "span": a features=8, blocks=2 span generator);
    `detail` gives it a non-zero last conv so it is more than bicubic."""
    if upsampler == "span":
        generator = tiny_span(bands, detail=0.05 if detail else 0)
    else:
        generator = tiny_generator(bands, detail=0.05 if detail else 0, bias=0.01 if detail else 0,
                                   upsampler=upsampler)  # fmt: skip
    kind = "" if upsampler == "x2-stages" else f"-{upsampler}"
    path = tmp_path / f"w{bands}{dtype}{int(detail)}{kind}.safetensors"
    return load_weights(save_tiny_weights(path, generator, dtype))


def whole_image(
    weights: LoadedWeights, lr: np.ndarray, pad: int, precision: str = "fp32",
    model: torch.nn.Module | None = None, origin: tuple[int, int] | None = None,
) -> np.ndarray:  # fmt: skip
    """Untiled inference (of the weights' generator unless `model` is given) on the scene reflection-padded by
    `pad` LR px, cropped back to the scene; a noise-injected generator's noise as if the padded scene's
    corner lay at `origin` (default: where it does, -pad)."""
    x = np.pad(lr, ((0, 0), (pad, pad), (pad, pad)), mode="reflect") if pad else lr
    chosen, origins = resolve_precision(precision, "cpu"), [origin or (-pad, -pad)]
    hr = run_generator(model or weights.generator, weights.normalisation, x[None], chosen, origins)[0]
    return hr[:, 4 * pad : hr.shape[1] - 4 * pad, 4 * pad : hr.shape[2] - 4 * pad]


def read(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(), {"transform": ds.transform, "crs": ds.crs, "bounds": ds.bounds, "ds": ds.profile}


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return support.run_cli("upscale", *args, **kwargs)


@pytest.mark.parametrize(
    ("tile", "batch", "precision", "upsampler"),
    [(16, 3, "fp32", "x2-stages"), (24, 1, "fp32", "x2-stages"), (16, 3, "bf16", "x2-stages"),
     (16, 3, "fp32", "shuffle-direct"), (16, 3, "bf16", "shuffle-direct"), (16, 3, "bf16", "span")],
)  # fmt: skip
def test_tiled_equals_whole_image_with_a_real_generator(
    tmp_path, make_raster, rng, tile, batch, precision, upsampler
) -> None:
    weights = tiny_weights(tmp_path, upsampler=upsampler)
    lr = smooth_image(rng, 3, 61, 53)
    src = make_raster("scene.tif", lr)
    options = UpscaleOptions(tile=tile, batch_size=batch, precision=precision)
    upscale_file(src, tmp_path / "out.tif", weights, options)
    tiled, _ = read(tmp_path / "out.tif")
    radius = weights.generator.receptive_radius
    # everywhere, against the same reflection at the scene border
    assert np.abs(tiled.astype(int) - whole_image(weights, lr, radius, precision)).max() <= 1
    # away from the border, against plain whole-image inference (its zero padding only reaches in there)
    inner = slice(4 * radius, -4 * radius)
    plain = whole_image(weights, lr, 0, precision)
    assert np.abs(tiled.astype(int) - plain)[:, inner, inner].max() <= 1
    # the check is sensitive: without context the same tiles do show seams
    upscale_file(src, tmp_path / "seams.tif", weights, replace(options, overlap=0))
    assert np.abs(read(tmp_path / "seams.tif")[0].astype(int) - plain)[:, inner, inner].max() > 1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_pipelined_output_is_byte_identical_to_serial(tmp_path, make_raster, rng, monkeypatch, precision):
    weights = tiny_weights(tmp_path)
    mask = np.ones((70, 90), dtype=bool)
    mask[10:30, 5:40] = False  # a masked hole: skipped tiles and masked writes go through the pipeline too
    src = make_raster("scene.tif", smooth_image(rng, 3, 70, 90), mask=mask)
    options = UpscaleOptions(tile=16, batch_size=2, precision=precision)
    upscale_file(src, tmp_path / "threads.tif", weights, options)
    monkeypatch.setattr("satsr.upscale.ThreadPoolExecutor", lambda workers: InlineExecutor())
    upscale_file(src, tmp_path / "serial.tif", weights, options)
    assert (tmp_path / "threads.tif").read_bytes() == (tmp_path / "serial.tif").read_bytes()


def test_precision_policy_and_tags(tmp_path, make_raster, rng, monkeypatch) -> None:
    src = make_raster("scene.tif", smooth_image(rng, 3, 20, 20))
    weights = tiny_weights(tmp_path)
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr("satsr.precision.native_bf16", lambda device, native=native: native)
        result = upscale_file(src, tmp_path / f"{expected}.tif", weights, UpscaleOptions(tile=16))
        assert result.precision.startswith(f"{expected} (auto")
        with rasterio.open(result.dst) as ds:
            assert ds.tags()["SATSR_PRECISION"] == expected
    forced = upscale_file(src, tmp_path / "forced.tif", weights, UpscaleOptions(precision="bf16"))
    assert forced.precision == "bf16"  # asked for: taken even where it is not native
    with pytest.raises(UsageError, match="--precision fp16: choose one of auto, fp32, bf16"):
        UpscaleOptions(precision="fp16")
    bad = run_cli(str(src), "--precision", "fp16")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr


def test_self_ensemble_is_equivariant_seam_free_and_tagged(tmp_path, make_raster, rng) -> None:
    weights = tiny_weights(tmp_path, upsampler="shuffle-direct")
    ensemble = SelfEnsemble(weights.generator)
    x = torch.rand(1, 3, 12, 17)
    with torch.no_grad():
        for turn in (lambda t: torch.rot90(t, 1, (-2, -1)), lambda t: t.flip(-1), lambda t: t.flip(-2)):
            assert torch.allclose(ensemble(turn(x)), turn(ensemble(x)), atol=1e-6)  # averaged over the group
        assert not torch.allclose(weights.generator(x.flip(-1)), weights.generator(x).flip(-1), atol=1e-3)
    lr = smooth_image(rng, 3, 45, 38)
    src = make_raster("scene.tif", lr)
    options = UpscaleOptions(tile=16, batch_size=2, precision="fp32", self_ensemble=True)
    result = upscale_file(src, tmp_path / "ensemble.tif", weights, options)
    assert result.precision == "fp32, self-ensemble of 8"
    tiled, _ = read(result.dst)
    pad = weights.generator.receptive_radius
    assert np.abs(tiled.astype(int) - whole_image(weights, lr, pad, model=ensemble)).max() <= 1  # no seams
    assert np.abs(tiled.astype(int) - whole_image(weights, lr, pad)).max() > 1  # not the plain model
    with rasterio.open(tmp_path / "ensemble.tif") as ds:
        assert ds.tags()["SATSR_SELF_ENSEMBLE"] == "8 orientations"


@pytest.mark.parametrize("self_ensemble", [False, True])
def test_noise_injected_generator_upscales_seam_free_and_deterministically(
    tmp_path, make_raster, rng, self_ensemble
) -> None:
    generator = tiny_generator(detail=0.05, upsampler="shuffle-direct", noise=True)
    for inject in generator.noise_in:
        torch.nn.init.normal_(inject.weight, std=0.5)  # noise that shows (a trained injection's size)
    weights = load_weights(save_tiny_weights(tmp_path / "noise.safetensors", generator))
    assert weights.generator.spec.noise
    lr = smooth_image(rng, 3, 45, 38)
    src = make_raster("scene.tif", lr)
    options = UpscaleOptions(tile=16, batch_size=2, precision="fp32", self_ensemble=self_ensemble)
    tiled, _ = read(upscale_file(src, tmp_path / "a.tif", weights, options).dst)
    again, _ = read(upscale_file(src, tmp_path / "b.tif", weights, replace(options, tile=24)).dst)
    assert np.array_equal(tiled, again)  # another tiling, the same output
    pad = weights.generator.receptive_radius
    model = SelfEnsemble(weights.generator) if self_ensemble else weights.generator
    assert np.abs(tiled.astype(int) - whole_image(weights, lr, pad, model=model)).max() <= 1  # no seams
    elsewhere = whole_image(weights, lr, pad, model=model, origin=(0, 0))  # the noise of other ground
    assert np.abs(tiled.astype(int) - elsewhere).max() > 1


class NearestOracle(Generator):
    """A 'model' whose exact answer is known: nearest-neighbour 4x."""

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return F.interpolate(lr, scale_factor=4, mode="nearest")


@pytest.mark.parametrize("tile", [8, 13, 40])
def test_stitching_oracle_is_exact(tmp_path, make_raster, rng, tile) -> None:
    saved = tiny_weights(tmp_path)
    oracle = LoadedWeights(
        NearestOracle(GeneratorSpec(features=8, blocks=1)), saved.normalisation, {}, saved.path
    )
    lr = rng.integers(0, 256, (3, 37, 29), dtype=np.uint8)
    src = make_raster("scene.tif", lr)
    upscale_file(src, tmp_path / "out.tif", oracle, UpscaleOptions(tile=tile, batch_size=2))
    hr, geo = read(tmp_path / "out.tif")
    assert np.array_equal(hr, lr.repeat(4, axis=1).repeat(4, axis=2))
    assert geo["transform"] == Affine(0.075, 0, 500_000.0, 0, -0.075, 4_000_000.0)
    assert geo["crs"].to_epsg() == 32633


@pytest.mark.parametrize(
    ("crs", "transform"),
    [("EPSG:32633", Affine(0.3, 0, 500_000.0, 0, -0.3, 4_000_000.0)), ("EPSG:4326", GEOGRAPHIC)],
)
def test_georeferencing_kept(tmp_path, make_raster, rng, crs, transform) -> None:
    src = make_raster("scene.tif", smooth_image(rng, 3, 20, 30), crs=crs, transform=transform)
    result = upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path), UpscaleOptions(tile=16))
    with rasterio.open(src) as lr, rasterio.open(result.dst) as hr:
        assert hr.crs == lr.crs and hr.bounds == pytest.approx(lr.bounds, abs=1e-12)
        assert hr.transform == lr.transform @ Affine.scale(1 / 4)
        assert hr.res == pytest.approx((lr.res[0] / 4, lr.res[1] / 4))
        assert (hr.width, hr.height) == (120, 80) == result.hr_size
        assert hr.colorinterp == lr.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        tags = hr.tags()
        assert tags["SATSR_WEIGHTS"] == "w3uint81.safetensors" and tags["SATSR_SCALE"] == "4"
        assert len(tags["SATSR_WEIGHTS_SHA256"]) == 64 and "SATSR_VERSION" in tags


def test_descriptions_and_tags_copied(tmp_path, make_raster, rng) -> None:
    src = make_raster("scene.tif", smooth_image(rng, 3, 16, 16))
    with rasterio.open(src, "r+") as ds:
        ds.set_band_description(2, "green")
        ds.update_tags(SENSOR="WV3")
        ds.update_tags(3, WAVELENGTH="480")
    upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path))
    with rasterio.open(tmp_path / "out.tif") as hr:
        assert hr.descriptions[1] == "green" and hr.tags()["SENSOR"] == "WV3"
        assert hr.tags(3)["WAVELENGTH"] == "480"


def test_rotated_transform_refused(tmp_path, make_raster, rng) -> None:
    src = make_raster(
        "rot.tif", smooth_image(rng, 3, 16, 16), transform=Affine(0.3, 0.1, 5e5, 0.1, -0.3, 4e6)
    )
    with pytest.raises(DataError, match="rotated"):
        upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path))
    assert not (tmp_path / "out.tif").exists()


def hole(shape: tuple[int, int]) -> np.ndarray:
    valid = np.ones(shape, dtype=bool)
    valid[5:14, 8:20] = False
    return valid


def test_nodata_kept_and_not_leaking(tmp_path, make_raster) -> None:
    # a flat scene: a fresh generator (exact bicubic) must return the same value right up to the hole
    lr = np.full((3, 24, 28), 200, dtype=np.uint8)
    valid = hole(lr.shape[1:])
    lr[:, ~valid] = 0
    lr[:, 0, 0] = 1  # a valid pixel just above nodata: nudged, never read back as nodata
    src = make_raster("nd.tif", lr, nodata=0)
    upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path, detail=False), UpscaleOptions(tile=16))
    with rasterio.open(tmp_path / "out.tif") as hr:
        assert hr.nodata == 0
        data, mask = hr.read(), hr.read_masks(1)
    hr_valid = valid.repeat(4, 0).repeat(4, 1)
    assert np.array_equal(mask > 0, hr_valid)
    assert (data[:, ~hr_valid] == 0).all() and (data[:, hr_valid] > 0).all()
    away = hr_valid.copy()
    away[:12, :12] = False  # around the odd pixel the bicubic legitimately dips
    assert np.abs(data[:, away].astype(int) - 200).max() <= 1


def test_internal_mask_kept(tmp_path, make_raster, rng) -> None:
    valid = hole((24, 28))
    src = make_raster("mask.tif", smooth_image(rng, 3, 24, 28), mask=valid)
    upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path), UpscaleOptions(tile=16))
    with rasterio.open(tmp_path / "out.tif") as hr:
        assert hr.nodata is None and hr.count == 3
        assert np.array_equal(hr.read_masks(1) > 0, valid.repeat(4, 0).repeat(4, 1))


def test_alpha_band_kept(tmp_path, make_raster, rng) -> None:
    valid = hole((24, 28))
    alpha = np.where(valid, 255, 0).astype(np.uint8)
    src = make_raster("rgba.tif", smooth_image(rng, 3, 24, 28), alpha=alpha)
    upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path), UpscaleOptions(tile=16))
    with rasterio.open(tmp_path / "out.tif") as hr:
        assert hr.count == 4 and hr.colorinterp[3] == ColorInterp.alpha
        assert np.array_equal(hr.read(4), alpha.repeat(4, 0).repeat(4, 1))
        assert np.array_equal(hr.read_masks(1) > 0, valid.repeat(4, 0).repeat(4, 1))


def test_uint16_round_trip(tmp_path, make_raster, rng) -> None:
    weights = tiny_weights(tmp_path, bands=1, dtype="uint16", detail=False)
    lr = smooth_image(rng, 1, 20, 20, dtype=np.uint16)  # 12-bit values in uint16
    src = make_raster("pan.tif", lr)
    upscale_file(src, tmp_path / "out.tif", weights, UpscaleOptions(tile=16))
    hr, _ = read(tmp_path / "out.tif")
    assert hr.dtype == np.uint16 and hr.max() > 255
    bicubic = F.interpolate(torch.from_numpy(lr[None].astype(np.float32)), scale_factor=4, mode="bicubic")
    inner = slice(8, -8)  # the scene edge sees reflection here, replication in plain bicubic
    assert np.abs(hr.astype(float) - bicubic[0].numpy())[:, inner, inner].max() <= 1


def test_dtype_mismatch_is_a_clear_error(tmp_path, make_raster, rng) -> None:
    src = make_raster("pan16.tif", smooth_image(rng, 3, 16, 16, dtype=np.uint16))
    with pytest.raises(DataError, match=r"uint16 but the weights .* take uint8; stretch it to 8 bits"):
        upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path))


def test_band_mismatch_names_bands_option(tmp_path, make_raster, rng) -> None:
    src = make_raster("five.tif", smooth_image(rng, 5, 16, 16))
    weights = tiny_weights(tmp_path)
    with pytest.raises(DataError, match=r"take 3 bands but it has 5 data bands .*--bands 1,2,3"):
        upscale_file(src, tmp_path / "out.tif", weights)
    upscale_file(src, tmp_path / "out.tif", weights, UpscaleOptions(bands=(3, 2, 1)))
    with pytest.raises(DataError, match="--bands"):
        upscale_file(src, tmp_path / "bad.tif", weights, UpscaleOptions(bands=(1, 2, 9)))


def test_no_overwrite_without_flag(tmp_path, make_raster, rng) -> None:
    src = make_raster("scene.tif", smooth_image(rng, 3, 16, 16))
    weights, dst = tiny_weights(tmp_path), tmp_path / "out.tif"
    dst.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        upscale_file(src, dst, weights)
    assert dst.read_bytes() == b"keep me"
    upscale_file(src, dst, weights, UpscaleOptions(overwrite=True))
    assert read(dst)[0].shape == (3, 64, 64)
    with pytest.raises(UsageError, match="replace its input"):
        upscale_file(src, src, weights, UpscaleOptions(overwrite=True))


def test_bad_options_refused() -> None:
    for bad in ({"tile": 0}, {"overlap": -1}, {"batch_size": 0}, {"device": "tpu"}):
        with pytest.raises(UsageError):
            UpscaleOptions(**bad)


def test_scene_discovery_and_output_names(tmp_path, make_raster, rng) -> None:
    a = make_raster("a.tif", smooth_image(rng, 3, 8, 8))
    b = make_raster("b.TIFF", smooth_image(rng, 3, 8, 8))
    make_raster("a_x4.tif", smooth_image(rng, 3, 8, 8))  # an earlier output is not a scene
    assert collect_scenes([str(tmp_path)]) == [a, b]
    assert collect_scenes([str(tmp_path / "*.tif"), str(a)]) == [a, tmp_path / "a_x4.tif"]
    assert output_paths([a, b], None) == [tmp_path / "a_x4.tif", tmp_path / "b_x4.tif"]
    assert output_paths([a, b], tmp_path / "out") == [
        tmp_path / "out" / "a_x4.tif",
        tmp_path / "out" / "b_x4.tif",
    ]
    assert output_paths([a], tmp_path / "one.tif") == [tmp_path / "one.tif"]
    with pytest.raises(UsageError, match="directory"):
        output_paths([a, b], tmp_path / "one.tif")
    with pytest.raises(UsageError, match="matches no files"):
        collect_scenes([str(tmp_path / "nothing*.tif")])


def test_many_scenes_one_failing(tmp_path, make_raster, rng) -> None:
    tiny_weights(tmp_path)
    good = [make_raster(f"s{i}.tif", smooth_image(rng, 3, 12, 12)) for i in range(2)]
    broken = tmp_path / "broken.tif"
    broken.write_text("not a raster")
    out = tmp_path / "out"
    result = run_cli(str(good[0]), str(broken), str(good[1]), "-o", str(out), "--weights",
                     str(tmp_path / "w3uint81.safetensors"))  # fmt: skip
    assert result.returncode == 1
    assert "broken.tif" in result.stderr and "1 of 3 scenes failed" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["s0_x4.tif", "s1_x4.tif"]


def test_upscale_many_reports_one_progress(tmp_path, make_raster, rng) -> None:
    scenes = [make_raster(f"s{i}.tif", smooth_image(rng, 3, 20, 20)) for i in range(2)]
    calls: list[tuple[str, int, int]] = []
    pairs = [(s, tmp_path / f"{s.stem}_x4.tif") for s in [*scenes, tmp_path / "missing.tif"]]
    report = upscale_many(pairs, tiny_weights(tmp_path), UpscaleOptions(tile=8), lambda *a: calls.append(a))
    assert [r.dst for r in report.results] == [p[1] for p in pairs[:2]]
    assert report.failures[0][0].name == "missing.tif" and "no such file" in report.failures[0][1]
    tiles = [c for c in calls if c[0] == "upscale tiles"]
    assert tiles[-1] == ("upscale tiles", 18, 18)  # 9 tiles per scene, one running total
    assert [c[1] for c in tiles] == sorted(c[1] for c in tiles)


def test_default_weights_missing_is_clear(tmp_path, make_raster, rng, monkeypatch) -> None:
    from typer.testing import CliRunner

    from satsr.cli import app

    monkeypatch.setenv("SATSR_WEIGHTS_DIR", str(tmp_path / "none"))
    src = make_raster("scene.tif", smooth_image(rng, 3, 8, 8))
    result = CliRunner().invoke(app, ["upscale", str(src)])
    assert isinstance(result.exception, WeightsError) and "pass --weights" in str(result.exception)
    assert not (tmp_path / "scene_x4.tif").exists()


def start_slow_upscale(tmp_path: Path, make_raster, rng) -> tuple[subprocess.Popen, Path]:
    """A real-size generator on a scene big enough to still be running when we interrupt it."""
    torch.manual_seed(0)
    weights = save_weights(tmp_path / "big.safetensors", Generator(GeneratorSpec()),
                           Normalisation.for_dtype("uint8", 3), {})  # fmt: skip
    src = make_raster("scene.tif", smooth_image(rng, 3, 384, 384))
    dst = tmp_path / "out.tif"
    args = [str(src), "-o", str(dst), "--weights", str(weights), "--tile", "64", "--batch-size", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "satsr", "upscale", *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.tif.*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    return proc, dst


@pytest.mark.parametrize(
    ("sig", "code", "tmp_left"), [(signal.SIGKILL, -9, True), (signal.SIGINT, 130, False)]
)
def test_interrupted_run_leaves_no_final_file(tmp_path, make_raster, rng, sig, code, tmp_left) -> None:
    proc, dst = start_slow_upscale(tmp_path, make_raster, rng)
    time.sleep(0.3)  # let it write a few tiles
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code  # interrupted mid-run, not finished
    assert not dst.exists()
    assert bool(list(tmp_path.glob(".out.tif.*"))) == tmp_left  # Ctrl-C cleans up; SIGKILL cannot


def test_cog_output(tmp_path, make_raster, rng) -> None:
    src = make_raster("scene.tif", smooth_image(rng, 3, 160, 160), nodata=0)
    result = upscale_file(
        src, tmp_path / "out.tif", tiny_weights(tmp_path), UpscaleOptions(tile=64, cog=True)
    )
    with rasterio.open(result.dst) as hr:
        assert hr.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert hr.overviews(1) == [2, 4] and hr.block_shapes[0] == (256, 256)
        assert hr.nodata == 0 and hr.tags()["SATSR_SCALE"] == "4"
        assert hr.transform == Affine(0.075, 0, 500_000.0, 0, -0.075, 4_000_000.0)
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == ["out.tif"]


SATELLITE = Path(__file__).resolve().parents[2] / "shared" / "data" / "satellite"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wv3_paris_rgb_30cm.tif", "wv3_vegas_rgba_30cm.tif"])
def test_real_spacenet_scene(tmp_path, name) -> None:
    src = SATELLITE / name
    if not src.exists():
        pytest.skip(f"{src} not available")
    result = upscale_file(src, tmp_path / "out.tif", tiny_weights(tmp_path))
    with rasterio.open(src) as lr, rasterio.open(result.dst) as hr:
        assert hr.crs == lr.crs and hr.crs.is_geographic
        assert hr.bounds == pytest.approx(lr.bounds, abs=1e-12)
        assert hr.res == pytest.approx((lr.res[0] / 4, lr.res[1] / 4))
        assert hr.count == lr.count and hr.colorinterp == lr.colorinterp
        lr_mask = lr.read_masks(1)[:50, :50].repeat(4, 0).repeat(4, 1)
        assert np.array_equal(hr.read_masks(1, window=((0, 200), (0, 200))), lr_mask)
