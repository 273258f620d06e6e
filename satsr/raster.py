"""The only module that opens GeoTIFFs: validation, masked window reads, output profiles, atomic writes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from satsr.errors import DataError, OutputExistsError


@contextmanager
def open_raster(path: str | Path, *, georeferenced: bool = True) -> Iterator[DatasetReader]:
    """Open a raster for reading, refusing what satsr cannot place on the ground."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise DataError(f"{path}: not a readable raster ({_first_line(exc)}); give a GeoTIFF") from None
    with src:
        if georeferenced:
            check_georeferenced(src)
        yield src


def check_georeferenced(src: DatasetReader) -> None:
    """A usable raster has a CRS and a north-up transform (no rotation or shear)."""
    if src.crs is None:
        raise DataError(f"{src.name}: has no CRS; assign one first (e.g. gdal_edit.py -a_srs EPSG:XXXX)")
    t = src.transform
    if t == Affine.identity():
        raise DataError(f"{src.name}: has no georeferencing transform; georeference it first")
    if t.b != 0 or t.d != 0:
        raise DataError(
            f"{src.name}: rotated or sheared transform is not supported; "
            "warp it north-up first (gdalwarp without -to options)"
        )


def data_band_indexes(src: DatasetReader) -> list[int]:
    """1-based indexes of the bands that carry data (alpha bands are masks, not data)."""
    return [i for i, ci in enumerate(src.colorinterp, start=1) if ci != ColorInterp.alpha]


def select_bands(src: DatasetReader, bands: list[int] | None) -> list[int]:
    """Validate a user band selection (1-based) or default to all data bands."""
    if bands is None:
        return data_band_indexes(src)
    bad = [b for b in bands if not 1 <= b <= src.count]
    if bad:
        raise DataError(f"{src.name}: has {src.count} bands, cannot select {bad}; fix --bands")
    return bands


def has_mask(src: DatasetReader) -> bool:
    """True when some pixels may be invalid (nodata value, internal mask or alpha)."""
    return any(MaskFlags.all_valid not in flags for flags in src.mask_flag_enums)


def read_window(
    src: DatasetReader, window: Window, bands: list[int], fill: float = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Read `bands` in `window` as (C, H, W) plus a (H, W) validity mask.

    The window may reach outside the raster: outside pixels are `fill` and invalid. A pixel is valid
    only where every selected band is valid (nodata value, internal mask and alpha all honoured).
    """
    data = src.read(bands, window=window, boundless=True, fill_value=fill)
    if not has_mask(src) and _inside(src, window):
        return data, np.ones(data.shape[1:], dtype=bool)
    masks = src.read_masks(bands, window=window, boundless=True)
    return data, np.all(masks > 0, axis=0)


def _inside(src: DatasetReader, window: Window) -> bool:
    return (
        window.col_off >= 0
        and window.row_off >= 0
        and window.col_off + window.width <= src.width
        and window.row_off + window.height <= src.height
    )


def upscaled_profile(src: DatasetReader, scale: int, bands: list[int]) -> dict[str, Any]:
    """Profile of the output raster: same CRS and bounds, `scale`x finer pixels, tiled and compressed."""
    width, height = src.width * scale, src.height * scale
    return {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": len(bands),
        "dtype": src.dtypes[bands[0] - 1],
        "crs": src.crs,
        "transform": src.transform @ Affine.scale(1 / scale),
        "nodata": src.nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 2 if np.issubdtype(np.dtype(src.dtypes[0]), np.integer) else 3,
        "interleave": "pixel",
        "BIGTIFF": "IF_SAFER",
    }


@contextmanager
def atomic_output(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto `final` only when the block completes.

    Works for files and directories. On any exception (Ctrl-C included) the temporary is removed and
    `final` is untouched; after SIGKILL only a `*.tmp` sibling can remain, never a partial `final`.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise OutputExistsError(f"{final}: already exists; pass --overwrite to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if final.exists():
        _remove(final)
    os.replace(tmp, final)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
