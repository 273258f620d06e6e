"""Shared fixtures: one factory for tiny GeoTIFFs built in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

RasterFactory = Callable[..., Path]


@pytest.fixture
def make_raster(tmp_path: Path) -> RasterFactory:
    """make_raster(name, data, ...) writes a (C, H, W) array as a GeoTIFF and returns its path.

    Options: crs (None for no CRS), res (pixel size), origin (x, y of the top-left corner), transform
    (overrides res/origin), nodata, mask ((H, W) bool, written as an internal mask), alpha ((H, W) uint8
    appended as an alpha band).
    """

    def factory(
        name: str,
        data: np.ndarray,
        *,
        crs: str | None = "EPSG:32633",
        res: float = 0.3,
        origin: tuple[float, float] = (500_000.0, 4_000_000.0),
        transform: Affine | None = None,
        nodata: float | None = None,
        mask: np.ndarray | None = None,
        alpha: np.ndarray | None = None,
    ) -> Path:
        path = tmp_path / name
        if data.ndim == 2:
            data = data[None]
        bands = [*data] + ([alpha.astype(data.dtype)] if alpha is not None else [])
        transform = transform or Affine(res, 0, origin[0], 0, -res, origin[1])
        profile = {
            "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": len(bands),
            "dtype": data.dtype, "crs": crs, "transform": transform, "nodata": nodata,
        }  # fmt: skip
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
            dst.write(np.stack(bands))
            if len(bands) in (3, 4):
                rgb = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
                dst.colorinterp = rgb + ([ColorInterp.alpha] if alpha is not None else [])
            elif alpha is not None:
                dst.colorinterp = [ColorInterp.gray] * data.shape[0] + [ColorInterp.alpha]
            if mask is not None:
                dst.write_mask(np.where(mask, 255, 0).astype(np.uint8))
        return path

    return factory


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def smooth_image(rng: np.random.Generator, bands: int, height: int, width: int, dtype=np.uint8) -> np.ndarray:
    """Smooth random imagery (blurred noise, stretched to the dtype): stands in for real scenes in tests."""
    from scipy.ndimage import gaussian_filter

    noise = rng.random((bands, height, width))
    img = np.stack([gaussian_filter(b, 3) for b in noise])
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    top = 255 if dtype == np.uint8 else 4095
    return (img * top).astype(dtype)
