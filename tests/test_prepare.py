"""Pair alignment (aligned_hr, check_pair) and `satsr prepare`."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window

from satsr.errors import DataError, GeoMismatchError
from satsr.raster import aligned_hr, check_pair, data_band_indexes, read_window
from tests.conftest import RasterFactory, smooth_image

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
