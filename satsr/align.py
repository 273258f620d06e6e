"""Pair alignment: an HR raster read on the exact scale-x refinement of an LR raster's grid (same grid, an
integer-pixel shift, or a warp), the checks that a pair can be aligned at all, and satsr's one comparison
of two grids (`grids_match`, to GRID_TOLERANCE of a pixel). `coarsened` reads an aerial raster at a coarser
ground pixel. GeoTIFF reads themselves are in raster.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from satsr.errors import DataError, GeoMismatchError
from satsr.gsd import gsd_of
from satsr.raster import check_georeferenced, has_mask, select_bands
from satsr.tiling import clip

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
        dtype = self.base.dtypes[indexes[0] - 1] if reader == self.base.read else "uint8"
        out = np.full((len(indexes), height, width), fill, dtype=dtype)
        inside = clip(Window(col, row, width, height), self.base.width, self.base.height)
        if inside is not None and inside.width > 0 and inside.height > 0:
            (r0, r1), (c0, c1) = inside.toranges()
            out[:, r0 - row : r1 - row, c0 - col : c1 - col] = reader(indexes, window=inside)
        return out


def grids_match(a: Any, a_transform: Affine, a_size: tuple[int, int], b: Any, b_transform: Affine,
                b_size: tuple[int, int]) -> bool:  # fmt: skip
    """Whether two grids (CRS, transform, (width, height)) are the same, to GRID_TOLERANCE of a pixel of the
    first: satsr's one grid comparison (an SR and its reference, an SR and its LR refined)."""
    tol = GRID_TOLERANCE * abs(a_transform.a)
    same = a == b and a_size == b_size
    return same and all(abs(x - y) <= tol for x, y in zip(a_transform[:6], b_transform[:6], strict=True))


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


@contextmanager
def coarsened(src: DatasetReader, gsd_m: float) -> Iterator[Any]:
    """A reader of `src` resampled to `gsd_m` ground pixels (area average, same CRS, origin and extent):
    aerial imagery made as coarse as the HR of another sensor's model (10 cm aerial read as 30 cm HR, whose
    4x LR is 1.2 m). `read_window` works on the result; pixels masked in `src` read as invalid."""
    native = gsd_of(src.crs, src.transform, src.width, src.height)
    assert native is not None, "open_raster refuses rasters without a CRS"
    factor = gsd_m / native
    if factor < 1 - PIXEL_SIZE_TOLERANCE:
        raise DataError(f"{src.name}: --hr-gsd {gsd_m} m is finer than its {native:.3g} m pixels; give "
                        f"{native:.3g} m or more (it only coarsens)")  # fmt: skip
    factor = max(factor, 1.0)  # within the tolerance of its own pixel: its own grid, never past its edge
    width, height = int(src.width / factor), int(src.height / factor)
    if not width or not height:
        size = f"{src.width} x {src.height} px at {native:.3g} m"
        raise DataError(f"{src.name}: --hr-gsd {gsd_m} m is coarser than the whole raster ({size}); use less")
    transform = src.transform * Affine.scale(src.width / width, src.height / height)
    add_alpha = has_mask(src) and ColorInterp.alpha not in src.colorinterp  # unmasked: the fill rule runs
    vrt_options = {"crs": src.crs, "transform": transform, "width": width, "height": height}
    with WarpedVRT(src, resampling=Resampling.average, add_alpha=add_alpha, **vrt_options) as vrt:
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
