"""The only module that opens GeoTIFFs: validation, masked window reads, output profiles. Pair alignment is
in align.py, atomic outputs in outputs.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.windows import Window

from satsr.errors import DataError
from satsr.outputs import gdal_cause
from satsr.sources import as_source, is_virtual
from satsr.tiling import TileJob, clip, scale_window

GDAL_CACHE_MB = 128  # GDAL block cache: fixed, so memory does not grow with the scene (default: 5 % of RAM)


def gdal_env() -> rasterio.Env:
    """satsr's one GDAL environment, around every read and write of a tool: a fixed block cache, and masks
    written inside the GeoTIFF (not as .msk sidecars)."""
    return rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=GDAL_CACHE_MB)


@contextmanager
def open_raster(path: str | Path, *, georeferenced: bool = True) -> Iterator[DatasetReader]:
    """Open a raster for reading, refusing what satsr cannot place on the ground."""
    path = as_source(path)  # a URL or /vsi path goes to GDAL verbatim (Path would mangle "http://")
    if isinstance(path, Path) and not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    try:
        # remote: no directory listing or sidecar probes (each a round trip, some servers never answer)
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR") if is_virtual(path) else nullcontext():
            src = rasterio.open(path)
    except RasterioIOError as exc:
        hint = "check the URL and that the server is reachable" if is_virtual(path) else "give a GeoTIFF"
        raise DataError(f"{path}: not a readable raster ({gdal_cause(exc)}); {hint}") from None
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

    The window may reach outside the raster: outside pixels are `fill` and invalid. Nodata value,
    internal mask and alpha are all honoured, and a pixel is invalid only where every selected band is, as
    in GDAL's dataset mask and its warper: a band at the nodata value beside valid ones is data (a roof
    saturated in red under nodata 255, a shadow at 0 in blue under nodata 0), not a hole.
    """
    inside = _inside(src, window)  # a boundless read goes through a VRT: ~20x slower, only when needed
    try:
        data = src.read(bands, window=window, boundless=not inside, fill_value=fill)
        if not has_mask(src) and inside:
            return data, np.ones(data.shape[1:], dtype=bool)
        masks = src.read_masks(bands, window=window, boundless=not inside)
    except RasterioError as exc:  # GDAL's outer message is "Read failed. See previous exception"
        cause = gdal_cause(exc)
        fix = _read_fix(src.name, cause)
        raise DataError(f"{src.name}: cannot read its pixels ({cause}); {fix}") from None
    return data, np.any(masks > 0, axis=0)


def fill_invalid(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Invalid pixels of (C, H, W) `data` take the value of the nearest valid one, so that nodata values
    never leak into a model's input or a blur (satsr's one nearest-valid fill)."""
    from scipy.ndimage import distance_transform_edt

    if valid.all() or not valid.any():
        return data
    rows, cols = distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return data[:, rows, cols]


def _read_fix(name: str, cause: str) -> str:
    """What to do about a failed read, from GDAL's cause."""
    if "No such file" in cause or "does not exist" in cause:
        return "a file it refers to is missing (a VRT's source?); restore it or fix the reference"
    if is_virtual(name) or "HTTP" in cause or "curl" in cause.lower():
        return "the server failed to send it; check the URL and retry"
    return "the file is truncated or corrupt, copy or export it again"


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


def read_context(src: DatasetReader, window: Window, bands: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) data and (H, W) validity for `window`; outside the scene both are mirrored.

    Reflection (instead of a boundless read's constant fill) keeps edge pixels sensible: the model sees
    plausible imagery beyond the scene border, not a black frame.
    """
    inside = clip(window, src.width, src.height)
    assert inside is not None, "a context window always overlaps its scene"
    data, valid = read_window(src, inside, bands)
    (r0, r1), (c0, c1) = inside.toranges()
    (row, row_end), (col, col_end) = window.toranges()
    pads = ((r0 - row, row_end - r1), (c0 - col, col_end - c1))
    if any(p for pair in pads for p in pair):
        data = np.pad(data, ((0, 0), *pads), mode="reflect")
        valid = np.pad(valid, pads, mode="reflect")
    return data, valid


def validity_mode(ds: DatasetReader) -> str:
    """How invalid pixels are marked in the output: like the input marks them."""
    if ds.nodata is not None:
        return "nodata"
    if ColorInterp.alpha in ds.colorinterp:
        return "alpha"
    return "mask" if has_mask(ds) else "none"


def write_tile(
    dst: DatasetWriter, job: TileJob, hr: np.ndarray, hr_valid: np.ndarray, mode: str, nodata: float | None,
    scale: int,
) -> None:  # fmt: skip
    """Write a tile's HR pixels, marking invalid ones the way the input did."""
    window = scale_window(job.core, scale)
    if mode == "nodata" and nodata is not None:
        fill = np.asarray(nodata).astype(hr.dtype)
        hr = np.where(hr_valid, _avoid_value(hr, nodata), fill)
    elif mode != "none":
        hr = np.where(hr_valid, hr, np.zeros((), hr.dtype))
    if mode == "alpha":
        top = np.iinfo(hr.dtype).max if np.issubdtype(hr.dtype, np.integer) else 255
        hr = np.concatenate([hr, np.where(hr_valid, top, 0).astype(hr.dtype)[None]])
    dst.write(hr, window=window)
    if mode == "mask":
        dst.write_mask(np.where(hr_valid, 255, 0).astype(np.uint8), window=window)


def _avoid_value(hr: np.ndarray, value: float) -> np.ndarray:
    """Nudge valid pixels off the nodata value by one DN, so that they are not read back as nodata."""
    if not np.issubdtype(hr.dtype, np.integer) or not np.isfinite(value):
        return hr
    info = np.iinfo(hr.dtype)
    if not info.min <= value <= info.max:
        return hr
    alt = value + 1 if value < info.max else value - 1
    return np.where(hr == value, np.asarray(alt).astype(hr.dtype), hr)
