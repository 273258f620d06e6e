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


def smooth_image(rng: np.random.Generator, bands: int, height: int, width: int, dtype=np.uint8) -> np.ndarray:
    """Smooth random imagery (blurred noise, stretched to the dtype): stands in for real scenes in tests."""
    from scipy.ndimage import gaussian_filter

    noise = rng.random((bands, height, width))
    img = np.stack([gaussian_filter(b, 3) for b in noise])
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    top = 255 if dtype == np.uint8 else 4095
    return (img * top).astype(dtype)


@pytest.fixture
def make_prepared(tmp_path: Path) -> Callable[..., Path]:
    """make_prepared(name, ...) writes a tiny prepared dataset (manifest + stacked .npy tiles) in tmp_path.

    Options: tiles per split ({"train": 6, "val": 2, "test": 1}), lr_tile (LR tile side), bands, dtype,
    normalisation (Normalisation; default the dtype's full range), seed, degraded (an aerial-only dataset:
    its LR marked as synthesised). HR tiles are smooth random imagery; LR tiles are their 4x4 block means,
    so a model can learn the mapping.
    """
    from satsr import SCALE
    from satsr.degrade import Degradation
    from satsr.manifest import Manifest, SceneRecord, TileRecord, save_manifest, scene_paths
    from satsr.normalise import Normalisation

    def factory(
        name: str = "data", *, tiles: dict[str, int] | None = None, lr_tile: int = 8, bands: int = 3,
        dtype: str = "uint8", normalisation: Normalisation | None = None, seed: int = 0,
        degraded: bool = False,
    ) -> Path:  # fmt: skip
        root = tmp_path / name
        (root / "scenes").mkdir(parents=True)
        counts = tiles or {"train": 6, "val": 2, "test": 1}
        splits = [s for s, n in counts.items() for _ in range(n)]
        gen = np.random.default_rng(seed)
        hr_side = SCALE * lr_tile
        hr = np.stack([smooth_image(gen, bands, hr_side, hr_side, np.dtype(dtype).type) for _ in splits])
        lr = hr.reshape(len(splits), bands, lr_tile, SCALE, lr_tile, SCALE).mean(axis=(3, 5))
        lr = np.rint(lr).astype(dtype) if np.issubdtype(np.dtype(dtype), np.integer) else lr.astype(dtype)
        lr_path, hr_path = scene_paths(root, "scene")
        np.save(lr_path, lr)
        np.save(hr_path, hr)
        transform = (0.3, 0.0, 500_000.0, 0.0, -0.3, 4_000_000.0)
        kind, lr_source = ("degraded", None) if degraded else ("pair", "lr.tif")
        scene = SceneRecord("scene", kind, "hr.tif", lr_source, "EPSG:32633", transform, len(splits))
        records = [
            TileRecord("scene", i, split, (i * lr_tile, 0, lr_tile, lr_tile), (0.0, 0.0, 1.0, 1.0))
            for i, split in enumerate(splits)
        ]
        norm = normalisation or Normalisation.for_dtype(dtype, bands)
        degradation = Degradation(noise_sigma=0.0).to_dict() if degraded else None
        manifest = Manifest("0.1.0", SCALE, bands, dtype, lr_tile, norm.to_dict(), [scene], records,
                            degradation, settings={"source": "test factory"})  # fmt: skip
        save_manifest(root, manifest)
        return root

    return factory
