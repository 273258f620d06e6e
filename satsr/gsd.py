"""Ground sample distance (pixel size on the ground, in metres) of a grid, in any CRS, and the check that a
scene's GSD is the one the weights were trained on (a 4x model maps its training GSD to a quarter of it).

The size is measured on the ground at the scene's centre whatever the CRS: projected coordinates go to
longitude/latitude and distances are taken on the WGS84 ellipsoid (local meridional and prime-vertical
radii of curvature), so Web Mercator (EPSG:3857: 0.2986 "m" pixels are 0.264 m at Kathmandu), feet and
degrees are all ground metres, to well under 1 %.
"""

from __future__ import annotations

import math
from typing import Any

from affine import Affine

from satsr.errors import DataError

WGS84_A = 6378137.0  # semi-major axis, m
WGS84_E2 = 6.69437999014e-3  # first eccentricity squared
# LR GSD of weights whose metadata predates `lr_gsd_m`: satsr's models map 30 cm satellite pixels to 7.5 cm
# (the shipped gan and psnr: real pairs of 0.26-0.30 m ground pixels, Web Mercator, and degraded aerial)
DEFAULT_LR_GSD_M = 0.30
GSD_TOLERANCE = 0.2  # accepted outside the trained range without --ignore-gsd (0.24-0.36 m for 0.30 m)
IGNORE_FLAG = "--ignore-gsd"


def ground_pixel_size(crs: Any, transform: Affine, width: int, height: int) -> tuple[float, float] | None:
    """(x, y) ground size in metres of the pixel at the centre of a north-up grid; None without a CRS.

    The pixel's neighbours along x and y are taken to longitude/latitude (PROJ, through rasterio, unless
    the CRS is geographic already) and their distances measured on the WGS84 ellipsoid, so Web Mercator's
    1/cos(latitude) stretch, US survey feet and degrees all come out as ground metres.
    """
    if crs is None:
        return None
    col, row = width / 2, height / 2
    points = [transform * (col, row), transform * (col + 1, row), transform * (col, row + 1)]
    if not crs.is_geographic:
        from rasterio.warp import transform as reproject_points

        lons, lats = reproject_points(crs, "EPSG:4326", [p[0] for p in points], [p[1] for p in points])
        points = list(zip(lons, lats, strict=True))
    (lon0, lat0), (lon1, lat1), (lon2, lat2) = points
    return _distance(lon0, lat0, lon1, lat1), _distance(lon0, lat0, lon2, lat2)


def _distance(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Metres between two nearby points on the WGS84 ellipsoid (local radii of curvature)."""
    lat = math.radians((lat0 + lat1) / 2)
    w = 1 - WGS84_E2 * math.sin(lat) ** 2
    meridional, prime_vertical = WGS84_A * (1 - WGS84_E2) / w**1.5, WGS84_A / math.sqrt(w)
    d_north = math.radians(lat1 - lat0) * meridional
    d_east = math.radians(lon1 - lon0) * prime_vertical * math.cos(lat)
    return math.hypot(d_east, d_north)


def gsd_of(crs: Any, transform: Affine, width: int, height: int) -> float | None:
    """One GSD in metres: the coarser axis (a scene resampled onto square degrees is oversampled across
    longitude; the detail it holds is that of its coarser axis)."""
    size = ground_pixel_size(crs, transform, width, height)
    return None if size is None else max(size)


def weights_lr_gsd(metadata: dict[str, Any]) -> tuple[float, float]:
    """(lowest, highest) LR GSD in metres of the scenes the weights were trained on (`lr_gsd_m`); 30 cm
    for files that do not state it."""
    value = metadata.get("lr_gsd_m")
    if isinstance(value, list) and len(value) == 2 and _positive(value):
        return float(min(value)), float(max(value))
    return DEFAULT_LR_GSD_M, DEFAULT_LR_GSD_M


def _positive(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and v > 0 for v in values)


def describe_gsd(trained: tuple[float, float], scale: int = 1) -> str:
    low, high = trained[0] / scale, trained[1] / scale
    return f"{low:.3g} m" if abs(high / low - 1) < 0.01 else f"{low:.3g}-{high:.3g} m"


def check_gsd(
    name: str, scene_gsd: float | None, trained: tuple[float, float], ignore: bool, scale: int = 4
) -> str | None:
    """Refuse a scene whose GSD is more than GSD_TOLERANCE outside the weights' range (unless `ignore`);
    return a warning line, or None."""
    low, high = trained[0] * (1 - GSD_TOLERANCE), trained[1] * (1 + GSD_TOLERANCE)
    if scene_gsd is None or low <= scene_gsd <= high:
        return None
    what = (f"{name}: pixels are {scene_gsd:.3g} m on the ground but the weights were trained on "
            f"{describe_gsd(trained)}; the output would be {scene_gsd / scale:.3g} m, "
            f"not {describe_gsd(trained, scale)}")  # fmt: skip
    if ignore:
        return f"{what} ({IGNORE_FLAG} given)"
    target = trained[1] if scene_gsd > high else trained[0]
    kernel = "cubic" if scene_gsd > high else "average"
    raise DataError(f"{what}; resample the scene to {target:.3g} m (e.g. gdalwarp -t_srs EPSG:<UTM zone> "
                    f"-tr {target:.3g} {target:.3g} -r {kernel}) or pass {IGNORE_FLAG}")  # fmt: skip


def dataset_lr_gsd(scenes: list[tuple[str, tuple[float, ...]]]) -> list[float] | None:
    """[lowest, highest] LR GSD (m) over the (CRS, LR transform) of training scenes; None if unknown."""
    from rasterio.crs import CRS

    values = []
    for crs_text, transform in scenes:
        try:
            values.append(gsd_of(CRS.from_user_input(crs_text), Affine(*transform[:6]), 0, 0))
        except Exception:  # an unreadable CRS: that scene says nothing about the GSD
            continue
    known = [round(v, 4) for v in values if v]
    return [min(known), max(known)] if known else None
