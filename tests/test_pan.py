"""Panchromatic imagery: luminance training data, the RGB -> 1-band fold, 11-16-bit scenes upscaled in their
own units (a per-scene stretch, inverted on output), the pan weights chosen for 1-band scenes, and hints
that fit the scene at hand."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F

from satsr.cli import main
from satsr.degrade import Degradation
from satsr.errors import DataError
from satsr.luminance import LUMA_REC601, fold_to_luminance, to_luminance
from satsr.manifest import load_manifest
from satsr.manifest import open_scene as open_manifest_scene
from satsr.models import Generator, GeneratorSpec
from satsr.normalise import Normalisation
from satsr.prepare import PrepareConfig, prepare
from satsr.radiometry import STRETCH_KEY, SceneStretch
from satsr.scene_check import default_weights_for
from satsr.upscale import UpscaleOptions, upscale_file
from satsr.weights import LoadedWeights, load_weights, save_weights
from tests.conftest import RasterFactory
from tests.support import smooth_image

TINY = PrepareConfig(tile=8, val=0.0, test=0.0, min_std=0.0)
STRETCH = SceneStretch((0.5, 99.5), (48.0, 235.0))


def tiny_generator(bands: int, detail: bool = True) -> Generator:
    torch.manual_seed(0)
    g = Generator(GeneratorSpec(bands=bands, features=8, blocks=1))
    if detail:  # a non-zero tail: more than bicubic
        torch.nn.init.normal_(g.tail.weight, std=0.05)
        torch.nn.init.normal_(g.tail.bias, std=0.01)
    return g.eval()


def pan_weights(folder: Path, detail: bool = True, name: str = "pan.safetensors") -> Path:
    """Tiny 1-band uint8 weights that declare a scene stretch, as the shipped pan weights do."""
    meta = {STRETCH_KEY: STRETCH.to_dict(), "luminance": "rec601"}
    return save_weights(folder / name, tiny_generator(1, detail), Normalisation.for_dtype("uint8", 1), meta)


def rgb_weights(folder: Path, name: str = "rgb.safetensors") -> LoadedWeights:
    norm = Normalisation.for_dtype("uint8", 3)
    return load_weights(save_weights(folder / name, tiny_generator(3), norm, {}))


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object
) -> tuple[int, str]:
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["satsr", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    code = exit_info.value.code
    out = capsys.readouterr()
    return (code if isinstance(code, int) else 0), out.err + out.out


# --- luminance training data --------------------------------------------------------------------------


def test_luminance_is_rec601_in_the_input_dtype() -> None:
    rgb = np.array([[[255, 0]], [[255, 0]], [[255, 255]]], dtype=np.uint8)  # white, blue
    assert to_luminance(rgb).tolist() == [[[255, 29]]]  # 0.114 * 255 = 29.07
    assert sum(LUMA_REC601) == pytest.approx(1.0)
    assert to_luminance(rgb.astype(np.uint16) * 8).dtype == np.uint16


def test_prepare_luminance_writes_one_band_tiles(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    hr = smooth_image(rng, 3, 64, 64)
    lr = np.rint(hr.reshape(3, 16, 4, 16, 4).astype(float).mean(axis=(2, 4))).astype(np.uint8)
    lr_path = make_raster("city_satellite.tif", lr, res=0.3)
    hr_path = make_raster("city_aerial.tif", hr, res=0.075)
    prepare([lr_path, hr_path], tmp_path / "pan", PrepareConfig(tile=8, val=0.0, test=0.0, min_std=0.0,
                                                                luminance=True))  # fmt: skip
    manifest = load_manifest(tmp_path / "pan")
    assert manifest.bands == 1 and manifest.settings["luminance"] == "rec601"
    assert manifest.norm == Normalisation.for_dtype("uint8", 1)
    lr_tiles, hr_tiles = open_manifest_scene(tmp_path / "pan", "city")
    t = manifest.tiles[0]
    col, row, w, h = t.lr_window
    np.testing.assert_array_equal(lr_tiles[t.index], to_luminance(lr[:, row : row + h, col : col + w]))
    np.testing.assert_array_equal(hr_tiles[t.index], to_luminance(hr[:, row * 4 : (row + h) * 4,
                                                                       col * 4 : (col + w) * 4]))  # fmt: skip
    folder = tmp_path / "aerial"
    folder.mkdir()
    make_raster("aerial/site.tif", hr, res=0.1)
    prepare([folder], tmp_path / "deg", PrepareConfig(tile=8, val=0.0, test=0.0, min_std=0.0, luminance=True),
            degradation=Degradation())  # fmt: skip
    lr_deg, hr_deg = open_manifest_scene(tmp_path / "deg", "site")
    assert lr_deg.shape[1] == 1 and hr_deg.shape[1] == 1
    pan = make_raster("pan.tif", hr[:1], res=0.1)
    with pytest.raises(DataError, match="--luminance needs RGB"):
        prepare([pan], tmp_path / "bad", PrepareConfig(tile=8, luminance=True),
                degradation=Degradation())  # fmt: skip
    assert not (tmp_path / "bad").exists()


# --- the fold -------------------------------------------------------------------------------------------


def test_fold_is_exact_on_grey_images() -> None:
    rgb = tiny_generator(3)
    pan = Generator(GeneratorSpec(bands=1, features=8, blocks=1))
    pan.load_state_dict(fold_to_luminance(rgb.state_dict()))
    pan.eval()
    grey = torch.rand(1, 1, 20, 20)
    luma = torch.tensor(LUMA_REC601).view(1, 3, 1, 1)
    with torch.inference_mode():
        want = (rgb(grey.expand(-1, 3, -1, -1)) * luma).sum(1, keepdim=True)
        assert torch.allclose(pan(grey), want, atol=1e-5)
        assert not torch.allclose(pan(grey), F.interpolate(grey, scale_factor=4, mode="bicubic"), atol=1e-3)


# --- 11-16-bit scenes -----------------------------------------------------------------------------------


def test_uint16_scene_keeps_its_units_and_nodata(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    """A bicubic-only model through the stretch: the output is the bicubic of the scene in its own DN, so the
    stretch is inverted exactly; nodata 0 is kept where the input had it, and never given to valid pixels."""
    lr = (smooth_image(rng, 1, 24, 24, dtype=np.uint16) // 2 + 100).astype(np.uint16)  # 11-bit values
    lr[:, :4, :4] = 0  # nodata corner
    src = make_raster("pan16.tif", lr, nodata=0)
    weights = load_weights(pan_weights(tmp_path, detail=False))
    out = upscale_file(src, tmp_path / "out.tif", weights, UpscaleOptions(tile=16)).dst
    with rasterio.open(out) as ds:
        hr, tags = ds.read(), ds.tags()
        assert ds.dtypes == ("uint16",) and ds.nodata == 0 and ds.count == 1
    assert "SATSR_SCENE_STRETCH" in tags and "uint16 -> 48-235 uint8" in tags["SATSR_SCENE_STRETCH"]
    invalid = np.zeros((96, 96), bool)
    invalid[:16, :16] = True
    assert (hr[0][invalid] == 0).all() and (hr[0][~invalid] > 0).all()
    filled = lr.astype(np.float32)
    filled[:, :4, :4] = lr[:, 4, 4]  # roughly what the nearest-valid fill does; compare away from it
    bicubic = F.interpolate(torch.from_numpy(filled[None]), scale_factor=4, mode="bicubic")[0].numpy()
    inner = (slice(None), slice(40, -8), slice(40, -8))
    assert np.abs(hr.astype(float) - bicubic)[inner].max() <= 1  # DN in, DN out
    assert hr[0][~invalid].max() > 255


def test_pan_scenes_by_dtype(make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path) -> None:
    """uint8 pan uses the weights' own normalisation (no tag); uint16 and float32 are stretched per scene."""
    weights = load_weights(pan_weights(tmp_path))
    img = smooth_image(rng, 1, 16, 16)
    scenes = {"u8": img, "u16": img.astype(np.uint16) * 7, "f32": img.astype(np.float32) / 255}
    for name, data in scenes.items():
        out = upscale_file(make_raster(f"{name}.tif", data), tmp_path / f"{name}_x4.tif", weights).dst
        with rasterio.open(out) as ds:
            assert ds.dtypes[0] == data.dtype.name and ds.shape == (64, 64)
            assert ("SATSR_SCENE_STRETCH" in ds.tags()) == (name != "u8")
            hr = ds.read(1).astype(float)
        back = hr.reshape(16, 4, 16, 4).mean(axis=(1, 3))
        assert np.abs(back - data[0]).mean() < 0.05 * np.ptp(data)  # LR-consistent, in the input's units


# --- choosing the weights and the hints -------------------------------------------------------------------


def test_one_band_scenes_get_the_pan_weights(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    pan_weights(shipped, name="satsr_x4_pan.safetensors")
    monkeypatch.setenv("SATSR_WEIGHTS_DIR", str(shipped))
    pan = make_raster("pan.tif", smooth_image(rng, 1, 16, 16, dtype=np.uint16))
    rgb = make_raster("rgb.tif", smooth_image(rng, 3, 16, 16))
    assert default_weights_for([pan], None) == "pan"
    assert default_weights_for([pan, rgb], None) == "gan" and default_weights_for([rgb], (2,)) == "pan"
    code, out = cli(monkeypatch, capsys, "upscale", pan, "-o", tmp_path / "pan_x4.tif")
    assert code == 0, out
    assert "panchromatic weights 'pan'" in out
    with rasterio.open(tmp_path / "pan_x4.tif") as ds:
        assert ds.tags()["SATSR_WEIGHTS"] == "satsr_x4_pan.safetensors" and ds.dtypes == ("uint16",)


def test_band_and_dtype_hints_fit_the_scene(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    rgb_w = rgb_weights(tmp_path)
    pan_w = pan_weights(tmp_path)
    pan16 = make_raster("pan16.tif", smooth_image(rng, 1, 16, 16, dtype=np.uint16))
    rgb8 = make_raster("rgb8.tif", smooth_image(rng, 3, 16, 16))
    cases = [
        (pan16, rgb_w.path, ["--weights pan", "panchromatic", "uint16"], ["--bands 1,2,3", "gdal_translate"]),
        (rgb8, pan_w, ["panchromatic (1-band)", "--bands N", "--weights gan"], ["gdal_translate"]),
    ]
    for scene, weights, said, unsaid in cases:
        dst = tmp_path / f"{scene.stem}_out.tif"
        code, err = cli(monkeypatch, capsys, "upscale", scene, "--weights", weights, "-o", dst)
        errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert code != 0 and len(errors) == 1 and "Traceback" not in err, err
        assert all(s in errors[0] for s in said) and not any(s in errors[0] for s in unsaid), errors[0]
        assert not dst.exists() and not list(tmp_path.glob(f"*{dst.name}*")), "nothing half-written"
    rgb16 = make_raster("rgb16.tif", smooth_image(rng, 3, 16, 16, dtype=np.uint16))
    with pytest.raises(DataError, match=r"uint16 but the weights .* take uint8; stretch it to 8 bits"):
        upscale_file(rgb16, tmp_path / "o.tif", rgb_w)
    code, _ = cli(monkeypatch, capsys, "upscale", rgb8, "--weights", pan_w, "--bands", "2", "-o",
                  tmp_path / "g.tif")  # fmt: skip
    assert code == 0 and (tmp_path / "g.tif").exists()


def test_info_shows_the_scene_stretch(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["satsr", "info", "pan"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "stretched per scene" in out and "1 band" in out
