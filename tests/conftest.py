"""Shared fixtures: one factory for tiny GeoTIFFs and one for tiny prepared datasets, built in tmp_path
(the helpers behind them, shared with the benchmarks, are in tests/support.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

from tests.support import write_prepared

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
            if data.shape[0] == 3:
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


@pytest.fixture
def make_prepared(tmp_path: Path) -> Callable[..., Path]:
    """make_prepared(name, ...) writes a tiny prepared dataset (manifest + stacked .npy tiles) in tmp_path.

    Options: those of `tests.support.write_prepared` (tiles per split, lr_tile, bands, dtype,
    normalisation, seed, scale).
    """

    def factory(name: str = "data", **options: Any) -> Path:
        return write_prepared(tmp_path / name, **options)

    return factory
