"""Pair alignment (aligned_hr, check_pair) and `satsr prepare`."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window
from scipy import ndimage

from satsr.align import aligned_hr, check_pair
from satsr.cli import main
from satsr.degrade import Degradation, degrade
from satsr.errors import DataError, GeoMismatchError, UsageError
from satsr.manifest import load_manifest
from satsr.manifest import open_scene as open_manifest_scene
from satsr.prepare import PrepareConfig, prepare
from satsr.raster import data_band_indexes, read_window
from satsr.scenes import scene_names
from satsr.split import BUFFER, SplitSpec, TilePosition, assign_splits, touches
from tests.conftest import RasterFactory
from tests.support import smooth_image

LR_RES, HR_RES = 0.3, 0.075
ORIGIN = (500_000.0, 4_000_000.0)


def area_down(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    c, h, w = hr.shape
    return hr.reshape(c, h // scale, scale, w // scale, scale).astype(np.float64).mean(axis=(2, 4))


def ground_pair(rng: np.random.Generator, lr_size: int = 32, bands: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """An HR scene and its 4x area-downsampled LR (uint8)."""
    hr = smooth_image(rng, bands, lr_size * 4, lr_size * 4)
    return np.rint(area_down(hr)).astype(np.uint8), hr


# --- aligned_hr ---------------------------------------------------------------------------------------


def test_exact_grid_is_passed_through(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    lr, hr = ground_pair(rng, 8)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    hr_path = make_raster("hr.tif", hr, res=HR_RES)
    with rasterio.open(lr_path) as lr_src, rasterio.open(hr_path) as hr_src, aligned_hr(lr_src, hr_src) as a:
        assert a is hr_src


def test_integer_shift_reads_the_same_ground(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    lr, hr = ground_pair(rng, 16)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    # the HR starts 6 HR px right and 10 HR px down of the LR origin: only a window offset is needed
    shifted = (ORIGIN[0] + 6 * HR_RES, ORIGIN[1] - 10 * HR_RES)
    hr_path = make_raster("hr.tif", hr[:, 10:, 6:], res=HR_RES, origin=shifted)
    with rasterio.open(lr_path) as lr_src, rasterio.open(hr_path) as hr_src, aligned_hr(lr_src, hr_src) as a:
        assert a is not hr_src and a.transform == lr_src.transform @ Affine.scale(0.25)
        data, valid = read_window(a, Window(0, 0, 64, 64), [1, 2, 3])
    assert not valid[:10].any() and not valid[:, :6].any() and valid[10:, 6:].all()
    np.testing.assert_array_equal(data[:, 10:, 6:], hr[:, 10:64, 6:64])


def test_subpixel_origin_is_resampled(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    lr, hr = ground_pair(rng, 16)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    # half an HR pixel to the left: the warp must interpolate, and agree with the true ground
    hr_path = make_raster("hr.tif", hr, res=HR_RES, origin=(ORIGIN[0] - HR_RES / 2, ORIGIN[1]))
    with rasterio.open(lr_path) as lr_src, rasterio.open(hr_path) as hr_src, aligned_hr(lr_src, hr_src) as a:
        data, valid = read_window(a, Window(8, 8, 48, 48), [1, 2, 3])
    assert valid.all()
    expected = (hr[:, 8:56, 8:56].astype(float) + hr[:, 8:56, 9:57]) / 2  # ground between two HR pixels
    assert np.abs(data - expected).max() <= 1.5


def test_other_crs_is_warped_onto_the_lr_grid(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    lr, hr = ground_pair(rng, 32)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    # the same ground delivered in Web Mercator, at the Mercator equivalent of 7.5 cm
    hr_tf = Affine(HR_RES, 0, ORIGIN[0], 0, -HR_RES, ORIGIN[1])
    with rasterio.open(lr_path) as lr_src:
        left, bottom, right, top = rasterio.warp.transform_bounds(lr_src.crs, "EPSG:3857", *lr_src.bounds)
    res = HR_RES * (right - left) / (32 * LR_RES)
    merc_tf = Affine(res, 0, left - 8 * res, 0, -res, top + 8 * res)
    merc = np.zeros((3, int((top - bottom) / res) + 16, int((right - left) / res) + 16), np.uint8)
    reproject(hr, merc, src_transform=hr_tf, src_crs="EPSG:32633", dst_transform=merc_tf,
              dst_crs="EPSG:3857", resampling=Resampling.cubic)  # fmt: skip
    hr_path = make_raster("hr.tif", merc, crs="EPSG:3857", transform=merc_tf)
    with rasterio.open(lr_path) as lr_src, rasterio.open(hr_path) as hr_src:
        check_pair(lr_src, hr_src)
        with aligned_hr(lr_src, hr_src) as a:
            data, valid = read_window(a, Window(16, 16, 96, 96), data_band_indexes(a))
    assert valid.all()
    err = data.astype(float) - hr[:, 16:112, 16:112]
    assert np.sqrt(np.mean(err**2)) < 3 and np.abs(err).max() < 25


@pytest.mark.parametrize("kind", ["nodata", "mask", "alpha"])
def test_warped_hr_keeps_its_mask(make_raster: RasterFactory, rng: np.random.Generator, kind: str) -> None:
    lr, hr = ground_pair(rng, 16)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    good = np.ones(hr.shape[1:], bool)
    good[:, :20] = False
    options: dict = {"mask": good} if kind == "mask" else {}
    if kind == "nodata":
        hr = np.where(good, np.minimum(hr, 254), 255).astype(np.uint8)
        options = {"nodata": 255}
    elif kind == "alpha":
        options = {"alpha": np.where(good, 255, 0).astype(np.uint8)}
    # a quarter HR pixel off the LR grid: needs a warp, which must carry the mask
    hr_path = make_raster("hr.tif", hr, res=HR_RES, origin=(ORIGIN[0] + HR_RES / 4, ORIGIN[1]), **options)
    with rasterio.open(lr_path) as lr_src, rasterio.open(hr_path) as hr_src, aligned_hr(lr_src, hr_src) as a:
        data, valid = read_window(a, Window(0, 0, 64, 64), data_band_indexes(a))
    assert data.shape == (3, 64, 64)
    assert not valid[:, :20].any() and valid[:, 22:].all()


# --- check_pair -------------------------------------------------------------------------------------------


def test_check_pair_refusals(make_raster: RasterFactory, rng: np.random.Generator) -> None:
    lr, hr = ground_pair(rng, 8)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    cases = {
        "wrong_scale": (make_raster("a.tif", hr, res=0.1), GeoMismatchError, "pixel size"),
        "far": (make_raster("b.tif", hr, res=HR_RES, origin=(6e5, 4e6)), GeoMismatchError, "overlap"),
        "bands": (make_raster("c.tif", hr[:1], res=HR_RES), DataError, "bands"),
        "dtype": (make_raster("d.tif", hr.astype(np.uint16), res=HR_RES), DataError, "dtype"),
    }
    for path, error, words in cases.values():
        with rasterio.open(lr_path) as lr, rasterio.open(path) as hr_src, pytest.raises(error, match=words):
            check_pair(lr, hr_src)
    with rasterio.open(lr_path) as lr_src, rasterio.open(cases["bands"][0]) as hr_src:
        assert check_pair(lr_src, hr_src, bands=[1]) == [1]


# --- satsr prepare --------------------------------------------------------------------------------------

TINY = PrepareConfig(tile=8, val=0.0, test=0.0, min_std=0.0)  # 8 px LR tiles, no split, no uniform drop


def make_pair(
    make_raster: RasterFactory, rng: np.random.Generator, lr_size: int = 32, **hr_options: Any
) -> tuple:
    lr, hr = ground_pair(rng, lr_size)
    lr_path = make_raster("city_satellite_30cm.tif", lr, res=LR_RES)
    hr_path = make_raster("city_aerial_7.5cm.tif", hr_options.pop("data", hr), res=HR_RES, **hr_options)
    return lr_path, hr_path, lr, hr


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """`satsr ARGS` in-process through cli.main (errors become one line + exit code)."""
    monkeypatch.setattr(sys, "argv", ["satsr", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("case", ["not_raster", "no_crs", "far", "wrong_scale", "bands"])
def test_cli_refuses_bad_pairs(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], case: str,
) -> None:  # fmt: skip
    lr, hr = ground_pair(rng, 16)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    bad = {
        "no_crs": lambda: make_raster("bad.tif", hr, res=HR_RES, crs=None),
        "far": lambda: make_raster("bad.tif", hr, res=HR_RES, origin=(700_000.0, 4_000_000.0)),
        "wrong_scale": lambda: make_raster("bad.tif", hr, res=LR_RES / 2),
        "bands": lambda: make_raster("bad.tif", hr[:2], res=HR_RES),
    }
    if case == "not_raster":
        bad_path = tmp_path / "bad.tif"
        bad_path.write_text("not an image")
    else:
        bad_path = bad[case]()
    out = tmp_path / "dataset"
    code, err = run_main(monkeypatch, capsys, "prepare", str(lr_path), str(bad_path), "-o", str(out))
    assert code != 0 and "bad.tif" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".dataset*"))


def test_cli_prepares_a_pair_and_refuses_to_overwrite(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    lr_path, hr_path, _, _ = make_pair(make_raster, rng)
    out = tmp_path / "dataset"
    options = ["--tile", "8", "--val", "0.25", "--block", "2"]
    args = ["prepare", str(lr_path), str(hr_path), "-o", str(out), *options]
    code, err = run_main(monkeypatch, capsys, *args)
    assert code == 0 and "city" in err and "shift" in err
    manifest = load_manifest(out)
    assert [s.name for s in manifest.scenes] == ["city"] and len(manifest.tiles) > 0
    assert manifest.split("val") and manifest.split("train")
    code, err = run_main(monkeypatch, capsys, *args)
    assert code != 0 and "--overwrite" in err


def prepared(lr_path: Path, hr_path: Path, out: Path, config: PrepareConfig = TINY) -> tuple[Any, ...]:
    prepare([lr_path, hr_path], out, config)
    manifest = load_manifest(out)
    lr_tiles, hr_tiles = open_manifest_scene(out, manifest.scenes[0].name)
    return manifest, np.asarray(lr_tiles), np.asarray(hr_tiles)


def test_prepared_tiles_match_the_ground_through_a_shifted_origin(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    lr, hr = ground_pair(rng, 32)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    # the HR starts 3 LR px (12 HR px) east and 2 LR px south of the LR: never align by pixel index
    origin = (ORIGIN[0] + 12 * HR_RES, ORIGIN[1] - 8 * HR_RES)
    hr_path = make_raster("hr.tif", hr[:, 8:, 12:], res=HR_RES, origin=origin)
    manifest, lr_tiles, hr_tiles = prepared(lr_path, hr_path, tmp_path / "ds")
    assert len(manifest.tiles) == 9  # tiles wholly inside the HR footprint: rows/cols 8, 16, 24
    for t in manifest.tiles:
        col, row, w, h = t.lr_window
        assert col >= 3 and row >= 2
        np.testing.assert_array_equal(lr_tiles[t.index], lr[:, row : row + h, col : col + w])
        np.testing.assert_array_equal(
            hr_tiles[t.index], hr[:, row * 4 : (row + h) * 4, col * 4 : (col + w) * 4]
        )
        assert t.shift is not None and t.shift < 0.2


def test_misregistered_tiles_are_dropped(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    lr, hr = ground_pair(rng, 32)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    # the aerial's georeference is off by 2 LR px: the content disagrees with the grid
    hr_path = make_raster("hr.tif", np.roll(hr, 8, axis=2), res=HR_RES)
    with pytest.raises(DataError, match="'misregistered': 4"):
        prepare([lr_path, hr_path], tmp_path / "ds", replace(TINY, tile=16))
    result = prepare([lr_path, hr_path], tmp_path / "ds", replace(TINY, tile=16, max_shift=3))
    assert 1.8 < result.shift["median"] < 2.2 and sum(result.scenes[0].kept.values()) == 4


@pytest.mark.parametrize("kind", ["nodata", "mask", "alpha", "black_fill"])
def test_invalid_hr_pixels_drop_their_tiles(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path, kind: str
) -> None:
    lr, hr = ground_pair(rng, 32)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    bad = np.zeros(hr.shape[1:], bool)
    bad[40:70, 40:70] = True  # touches LR tiles (1..2, 1..2) of the 8 px grid: 4 tiles
    hr = np.maximum(hr, 1).astype(np.uint8)  # no accidental pure black elsewhere
    hr[:, 100, 100] = 0  # one black pixel in unmasked data is a shadow, not fill
    cases: dict[str, dict[str, Any]] = {
        "nodata": {"nodata": 255, "data": np.where(bad, 255, np.minimum(hr, 254)).astype(np.uint8)},
        "mask": {"mask": ~bad},
        "alpha": {"alpha": np.where(bad, 0, 255).astype(np.uint8)},
        "black_fill": {"data": np.where(bad, 0, hr).astype(np.uint8)},
    }
    options = dict(cases[kind])
    hr_path = make_raster("hr.tif", options.pop("data", hr), res=HR_RES, **options)
    result = prepare([lr_path, hr_path], tmp_path / "ds", TINY)
    assert result.scenes[0].dropped["invalid"] == 4 and sum(result.scenes[0].kept.values()) == 12
    kept = {t.lr_window[:2] for t in load_manifest(tmp_path / "ds").tiles}
    assert not kept & {(8, 8), (16, 8), (8, 16), (16, 16)}


def test_valid_fraction_keeps_partial_tiles_with_zeroed_invalid_pixels(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    lr, hr = ground_pair(rng, 16)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    good = np.ones(hr.shape[1:], bool)
    good[:4, :4] = False  # one LR pixel of the first tile
    hr_path = make_raster("hr.tif", hr, res=HR_RES, mask=good)
    manifest, lr_tiles, hr_tiles = prepared(
        lr_path, hr_path, tmp_path / "ds", replace(TINY, valid_fraction=0.9)
    )
    assert len(manifest.tiles) == 4
    first = next(t for t in manifest.tiles if t.lr_window[:2] == (0, 0))
    assert (lr_tiles[first.index][:, 0, 0] == 0).all() and (hr_tiles[first.index][:, :4, :4] == 0).all()


def test_split_blocks_never_touch_train() -> None:
    rng = np.random.default_rng(1)
    tile, stride = 8, 4  # overlapping tiles make the buffer wider
    cells = [(c, r) for r in range(40) for c in range(40) if rng.random() < 0.7]
    tiles = [TilePosition("a", c * stride, r * stride) for c, r in cells]
    spec = SplitSpec(val=0.2, test=0.2, block=4, seed=3)
    splits = assign_splits(tiles, spec, tile, stride, held_out=set())
    assert splits == assign_splits(tiles, spec, tile, stride, held_out=set())  # deterministic
    assert splits != assign_splits(tiles, replace(spec, seed=4), tile, stride, held_out=set())
    train = [t for t, s in zip(tiles, splits, strict=True) if s == "train"]
    for name in ("val", "test"):
        held = [t for t, s in zip(tiles, splits, strict=True) if s == name]
        assert held and not any(touches(a, b, tile) for a in held for b in train)
    assert splits.count(BUFFER) > 0 and splits.count("train") > len(tiles) / 3


def test_test_scenes_are_held_out_whole(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    paths = []
    for name in ("harbour", "farm"):
        lr, hr = ground_pair(rng, 16)
        paths += [
            make_raster(f"{name}_satellite.tif", lr, res=LR_RES),
            make_raster(f"{name}_aerial.tif", hr, res=HR_RES),
        ]
    prepare(paths, tmp_path / "ds", replace(TINY, test_scenes=("farm",), val=0.2))
    manifest = load_manifest(tmp_path / "ds")
    assert {t.split for t in manifest.tiles if t.scene == "farm"} == {"test"}
    assert "test" not in {t.split for t in manifest.tiles if t.scene == "harbour"}
    with pytest.raises(UsageError, match="matches no scene"):
        prepare(paths, tmp_path / "ds2", replace(TINY, test_scenes=("nowhere",)))


def test_degrade_is_deterministic_for_a_seed(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    hr = smooth_image(rng, 3, 128, 128)
    folder = tmp_path / "aerial"
    folder.mkdir()
    make_raster("aerial/site_aerial_10cm.tif", hr, res=0.1)
    params = Degradation(noise_sigma=2.0)
    runs = []
    for seed, name in ((0, "a"), (0, "b"), (1, "c")):
        prepare([folder], tmp_path / name, replace(TINY, seed=seed), params)
        runs.append(open_manifest_scene(tmp_path / name, "site"))
    (lr_a, hr_a), (lr_b, _), (lr_c, _) = runs
    np.testing.assert_array_equal(lr_a, lr_b)
    assert not np.array_equal(lr_a, lr_c)
    manifest = load_manifest(tmp_path / "a")
    assert manifest.degradation and manifest.degradation["noise_sigma"] == 2.0
    assert manifest.scenes[0].kind == "degraded" and manifest.scenes[0].lr_transform[0] == pytest.approx(0.4)
    t = manifest.tiles[0]
    col, row, w, h = t.lr_window
    np.testing.assert_array_equal(hr_a[t.index], hr[:, row * 4 : (row + h) * 4, col * 4 : (col + w) * 4])
    # the LR is a blurred, 4x area-downsampled HR: close to the plain area average of the same ground
    assert np.abs(lr_a[t.index].astype(float) - area_down(hr_a[t.index])).mean() < 6


def test_hr_gsd_reads_aerial_at_a_coarser_ground_pixel(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    hr = smooth_image(rng, 3, 192, 192)  # 10 cm: read at 30 cm, a 3x3 area average
    mask = np.ones(hr.shape[1:], dtype=bool)
    mask[:3, :3] = False  # one masked 30 cm pixel in a corner
    folder = tmp_path / "aerial"
    folder.mkdir()
    make_raster("aerial/site_10cm.tif", hr, res=0.1, mask=mask)
    prepare([folder], tmp_path / "ds", replace(TINY, hr_gsd=0.3, valid_fraction=0.5), Degradation())
    manifest = load_manifest(tmp_path / "ds")
    assert manifest.scenes[0].lr_transform[0] == pytest.approx(1.2) and manifest.settings["hr_gsd"] == 0.3
    _, tiles = open_manifest_scene(tmp_path / "ds", manifest.scenes[0].name)
    coarse = hr.reshape(3, 64, 3, 64, 3).astype(np.float64).mean(axis=(2, 4))
    for t in manifest.tiles:
        col, row, w, h = t.lr_window
        want = coarse[:, row * 4 : (row + h) * 4, col * 4 : (col + w) * 4]
        got = tiles[t.index].astype(np.float64)
        valid = got.any(axis=0)  # prepare zeroes invalid HR pixels
        assert np.abs(got - want)[:, valid].max() <= 1  # GDAL's average, rounded
        assert valid.all() == ((col, row) != (0, 0))  # the masked corner stays invalid
    code, err = run_main(monkeypatch, capsys, "prepare", "--degrade", str(folder), "--hr-gsd", "0.05", "-o",
                         str(tmp_path / "fine"))  # fmt: skip
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "site_10cm.tif: --hr-gsd 0.05 m is finer than its 0.1 m pixels; give 0.1 m or more" in err
    with pytest.raises(DataError, match=r"--hr-gsd 100\.0 m is coarser than the whole raster"):
        prepare([folder], tmp_path / "huge", replace(TINY, hr_gsd=100.0), Degradation())
    with pytest.raises(UsageError, match=r"--hr-gsd -0\.3: give the HR ground pixel in metres"):
        prepare([folder], tmp_path / "negative", replace(TINY, hr_gsd=-0.3), Degradation())
    plain = make_raster("nowhere.tif", hr, crs=None)
    with pytest.raises(DataError, match=r"nowhere\.tif: has no CRS; assign one first"):
        prepare([plain], tmp_path / "plain_ds", replace(TINY, hr_gsd=0.3), Degradation())
    lr, pair_hr = ground_pair(rng, 16)
    pair = [make_raster("lr.tif", lr, res=LR_RES), make_raster("hr.tif", pair_hr, res=HR_RES)]
    with pytest.raises(UsageError, match="--hr-gsd coarsens aerial rasters for --degrade"):
        prepare(pair, tmp_path / "pairs", replace(TINY, hr_gsd=0.3))
    assert not any((tmp_path / n).exists() for n in ("fine", "huge", "negative", "plain_ds", "pairs"))


def test_degrade_lr_matches_its_definition() -> None:
    hr = np.random.default_rng(0).integers(0, 255, (1, 32, 32)).astype(np.uint8)
    lr = degrade(hr, Degradation(0, 0, 0), np.random.default_rng(0))
    np.testing.assert_array_equal(lr, np.rint(area_down(hr)).astype(np.uint8))
    jpeg = degrade(np.repeat(hr, 3, 0), Degradation(jpeg_quality=50), np.random.default_rng(0))
    assert jpeg.shape == (3, 8, 8) and jpeg.dtype == np.uint8


def test_interrupted_prepare_leaves_no_dataset(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    lr_path, hr_path, _, _ = make_pair(make_raster, rng)
    out = tmp_path / "ds"

    def interrupt(task: str, completed: int, total: int) -> None:
        if task.startswith("tiles"):  # the dataset directory is being written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare([lr_path, hr_path], out, TINY, progress=interrupt)
    assert not out.exists() and not list(tmp_path.glob(".ds*"))
    prepare([lr_path, hr_path], out, TINY)  # a rerun works
    assert load_manifest(out).tiles


def test_uint16_normalisation_from_train_pixels(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    hr = (smooth_image(rng, 1, 64, 64).astype(np.uint16) * 8 + 100).astype(np.uint16)
    lr = np.rint(area_down(hr)).astype(np.uint16)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    hr_path = make_raster("hr.tif", hr, res=HR_RES)
    result = prepare([lr_path, hr_path], tmp_path / "ds", TINY)
    norm = result.normalisation
    assert norm.dtype == "uint16" and 100 <= norm.low[0] < norm.high[0] <= 100 + 255 * 8


def test_scene_names() -> None:
    paths = [
        Path("dar_es_salaam_satellite_30cm.tif"),
        Path("x/dar_es_salaam_aerial.tif"),
        Path("SJER_001.tif"),
    ]
    assert scene_names(paths) == ["dar_es_salaam", "dar_es_salaam_2", "SJER_001"]


def test_detected_fill_drops_tiles_whatever_the_valid_fraction(
    make_raster: RasterFactory, rng: np.random.Generator, tmp_path: Path
) -> None:
    lr, hr = ground_pair(rng, 16)
    lr_path = make_raster("lr.tif", lr, res=LR_RES)
    hr = np.maximum(hr, 1).astype(np.uint8)
    hr[:, :12, :12] = 0  # a small unflagged black corner in the first of four tiles
    hr_path = make_raster("hr.tif", hr, res=HR_RES)
    result = prepare([lr_path, hr_path], tmp_path / "ds", replace(TINY, valid_fraction=0.5))
    assert result.scenes[0].dropped["invalid"] == 1 and sum(result.scenes[0].kept.values()) == 3


# --- real imagery (slow; skipped without ../shared/data) ---------------------------------------------------

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "pairs").is_dir(), reason="real imagery in ../shared/data is absent")
def test_real_pair_is_aligned(tmp_path: Path) -> None:
    pair = [DATA / "pairs" / "nairobi_satellite_30cm.tif", DATA / "pairs" / "nairobi_aerial_7.5cm.tif"]
    result = prepare(pair, tmp_path / "ds", PrepareConfig(val=0.1))
    assert sum(result.scenes[0].kept.values()) > 200 and result.shift["median"] <= 0.25
    manifest = load_manifest(tmp_path / "ds")
    lr_tiles, hr_tiles = open_manifest_scene(tmp_path / "ds", "nairobi")
    psnr = [
        10 * np.log10(255**2 / np.mean((lr_tiles[i].astype(float) - area_down(np.asarray(hr_tiles[i]))) ** 2))
        for i in range(0, len(manifest.tiles), 10)
    ]
    assert np.median(psnr) >= 30  # measured 35.5 dB; a 1 px misalignment gives ~26


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "aerial").is_dir(), reason="real imagery in ../shared/data is absent")
def test_unflagged_black_region_gives_no_tiles(tmp_path: Path) -> None:
    path = DATA / "aerial" / "oam" / "oam_10cm_partial.tif"
    prepare([path], tmp_path / "ds", PrepareConfig(stride=32), Degradation())
    manifest = load_manifest(tmp_path / "ds")
    with rasterio.open(path) as src:
        labels, _ = ndimage.label(np.all(src.read() == 0, axis=0))
    region = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1  # the black no-data region
    assert region.mean() > 0.15 and len(manifest.tiles) > 100
    for t in manifest.tiles:
        col, row, w, h = t.lr_window
        assert not region[row * 4 : (row + h) * 4, col * 4 : (col + w) * 4].any()
