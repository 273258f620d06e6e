"""The only module that opens GeoTIFFs: validation, masked window reads, output profiles, atomic writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from satsr.errors import DataError, GeoMismatchError
from satsr.outputs import atomic_output, gdal_cause
from satsr.sources import as_source, is_virtual

__all__ = ["atomic_output"]  # re-exported: the tools import it from here


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

    The window may reach outside the raster: outside pixels are `fill` and invalid. A pixel is valid
    only where every selected band is valid (nodata value, internal mask and alpha all honoured).
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
    return data, np.all(masks > 0, axis=0)


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


# --- pair alignment -------------------------------------------------------------------------------------

GRID_TOLERANCE = 1e-3  # fraction of a pixel under which two grids count as identical (float noise)
PIXEL_SIZE_TOLERANCE = 0.01  # relative error allowed between the LR pixel and scale x the HR pixel


class GridReader:
    """A read-only view of `base` on a target grid whose pixel (0, 0) is `base` pixel (col, row) offset.

    It answers the calls `read_window` makes (read/read_masks, boundless): it reads the overlap with `base`
    without a boundless read, pads the rest with `fill`, and reports padded pixels invalid. Every other
    attribute (count, dtypes, colorinterp, name, nodata ...) is the base's.
    """

    def __init__(self, base: Any, width: int, height: int, transform: Affine, offset: tuple[int, int]):
        self.base, self.width, self.height, self.transform = base, width, height, transform
        self.col_off, self.row_off = offset  # base pixel = target pixel + offset

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    @property
    def mask_flag_enums(self) -> list[list[MaskFlags]]:
        # padded pixels may be invalid even when the base declares none: always read masks
        return [[MaskFlags.per_dataset]] * self.base.count

    def read(self, indexes: list[int], window: Window, boundless: bool = True, fill_value: float = 0) -> Any:
        return self._read(self.base.read, indexes, window, fill_value)

    def read_masks(self, indexes: list[int], window: Window, boundless: bool = True) -> Any:
        return self._read(self.base.read_masks, indexes, window, 0)

    def _read(self, reader: Any, indexes: list[int], window: Window, fill: float) -> np.ndarray:
        col, row = int(window.col_off) + self.col_off, int(window.row_off) + self.row_off
        width, height = int(window.width), int(window.height)
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + width, self.base.width), min(row + height, self.base.height)
        dtype = self.base.dtypes[indexes[0] - 1] if reader == self.base.read else "uint8"
        out = np.full((len(indexes), height, width), fill, dtype=dtype)
        if c1 > c0 and r1 > r0:
            part = reader(indexes, window=Window(c0, r0, c1 - c0, r1 - r0))
            out[:, r0 - row : r1 - row, c0 - col : c1 - col] = part
        return out


def refined_grid(src: DatasetReader, scale: int) -> tuple[Affine, int, int]:
    """Transform, width and height of the exact scale-x refinement of `src`'s grid."""
    return src.transform @ Affine.scale(1 / scale), src.width * scale, src.height * scale


def grid_offset(src: DatasetReader, crs: Any, transform: Affine) -> tuple[int, int] | None:
    """(col, row) of the target grid's origin in `src` pixels when both grids coincide up to an
    integer-pixel shift (same CRS and pixel size); None when reading `src` there needs resampling."""
    t = src.transform
    if src.crs != crs or abs(t.a - transform.a) > GRID_TOLERANCE * abs(transform.a) / max(src.width, 1):
        return None
    if abs(t.e - transform.e) > GRID_TOLERANCE * abs(transform.e) / max(src.height, 1):
        return None
    col, row = (transform.c - t.c) / t.a, (transform.f - t.f) / t.e
    if abs(col - round(col)) > GRID_TOLERANCE or abs(row - round(row)) > GRID_TOLERANCE:
        return None
    return round(col), round(row)


@contextmanager
def aligned_hr(
    lr_src: DatasetReader, hr_src: DatasetReader, scale: int = 4, resampling: Resampling = Resampling.bilinear
) -> Iterator[Any]:
    """A reader of the HR raster on the exact scale-x refinement of the LR grid (HR window = LR window x 4).

    Same grid: the HR itself. Same CRS and pixel size with an integer-pixel shift: a window offset, no
    resampling. Anything else (other CRS, origin or pixel size): a WarpedVRT onto the target grid with
    `resampling` (`average` is used instead when the HR is over 1.5x finer than the target, against
    aliasing). `read_window` works on the result; pixels outside or masked in the HR read as invalid.
    """
    transform, width, height = refined_grid(lr_src, scale)
    offset = grid_offset(hr_src, lr_src.crs, transform)
    if offset == (0, 0):
        yield hr_src
        return
    if offset is not None:
        yield GridReader(hr_src, width, height, transform, offset)
        return
    if _hr_pixel_in(lr_src.crs, hr_src) < abs(transform.a) / 1.5:
        resampling = Resampling.average
    vrt_options = {"crs": lr_src.crs, "transform": transform, "width": width, "height": height}
    add_alpha = ColorInterp.alpha not in hr_src.colorinterp  # a source alpha band is carried over as is
    with WarpedVRT(hr_src, resampling=resampling, add_alpha=add_alpha, **vrt_options) as vrt:
        # alpha from the warper marks pixels outside the HR or masked in it (nodata, mask, alpha)
        yield GridReader(vrt, width, height, transform, (0, 0))


def _hr_pixel_in(crs: Any, src: DatasetReader) -> float:
    """Mean pixel size of `src` expressed in `crs` units (from its reprojected bounds)."""
    left, bottom, right, top = transform_bounds(src.crs, crs, *src.bounds)
    return float(np.sqrt((right - left) / src.width * (top - bottom) / src.height))


def check_pair(
    lr_src: DatasetReader, hr_src: DatasetReader, scale: int = 4, bands: list[int] | None = None
) -> list[int]:
    """Refuse an LR/HR pair satsr cannot align; return the band indexes to read from both.

    Both must be georeferenced, have the same number of (selected) bands and dtype, overlap on the
    ground, and the LR pixel must be `scale` x the HR pixel within 1 % (compared in the LR CRS).
    """
    check_georeferenced(lr_src)
    check_georeferenced(hr_src)
    lr_bands, hr_bands = select_bands(lr_src, bands), select_bands(hr_src, bands)
    if len(lr_bands) != len(hr_bands):
        raise DataError(
            f"{hr_src.name}: has {len(hr_bands)} data bands but {lr_src.name} has {len(lr_bands)}; "
            "pass --bands to pick matching bands"
        )
    lr_dtype, hr_dtype = lr_src.dtypes[lr_bands[0] - 1], hr_src.dtypes[hr_bands[0] - 1]
    if lr_dtype != hr_dtype:
        raise DataError(
            f"{hr_src.name}: dtype {hr_dtype} differs from {lr_src.name} ({lr_dtype}); convert one of them"
        )
    try:
        left, bottom, right, top = transform_bounds(hr_src.crs, lr_src.crs, *hr_src.bounds)
    except Exception as exc:  # PROJ cannot map one CRS onto the other
        message = f"{hr_src.name}: cannot reproject to the CRS of {lr_src.name} ({exc}); fix its CRS"
        raise GeoMismatchError(message) from None
    lr_left, lr_bottom, lr_right, lr_top = lr_src.bounds
    if min(right, lr_right) <= max(left, lr_left) or min(top, lr_top) <= max(bottom, lr_bottom):
        raise GeoMismatchError(
            f"{hr_src.name}: does not overlap {lr_src.name} on the ground; give pairs of the same place "
            "(satellite first, then aerial) with correct CRSs"
        )
    hr_res = ((right - left) / hr_src.width, (top - bottom) / hr_src.height)
    for axis, lr_px, hr_px in zip("xy", lr_src.res, hr_res, strict=True):
        if abs(lr_px / (scale * hr_px) - 1) > PIXEL_SIZE_TOLERANCE:
            raise GeoMismatchError(
                f"{hr_src.name}: pixel size {hr_px:.4g} ({axis}, CRS of {lr_src.name}) is not 1/{scale} "
                f"of the satellite pixel {lr_px:.4g}; resample the aerial to {lr_px / scale:.4g} "
                "(and give the satellite first, then the aerial)"
            )
    return lr_bands
