"""What an upscaled GeoTIFF looks like: profile and GDAL creation options, copied descriptions and tags,
provenance and resolution tags, overviews for plain GeoTIFFs and the COG finishing copy."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetReader, DatasetWriter

from satsr import __version__
from satsr.errors import UsageError
from satsr.precision import Precision
from satsr.raster import upscaled_profile
from satsr.weights import LoadedWeights

CORE_KEYS = ("driver", "width", "height", "count", "dtype", "crs", "transform", "nodata")  # not creation opts
DROPPED_BAND_TAGS = ("STATISTICS_",)  # the input's statistics are not the output's (QGIS stretches by them)
COG_OPTIONS = {"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "BLOCKSIZE": "256", "BIGTIFF": "IF_SAFER",
               "OVERVIEWS": "AUTO", "OVERVIEW_RESAMPLING": "AVERAGE"}  # fmt: skip
OVERVIEW_MIN_SIDE = 256  # --overviews: halve until the smallest level fits in one block


def parse_creation_options(items: list[str] | None) -> tuple[tuple[str, str], ...]:
    """['COMPRESS=ZSTD', 'zlevel=9'] -> (('COMPRESS', 'ZSTD'), ('ZLEVEL', '9')), as rio/gdal take --co."""
    parsed = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--co {item!r}: expected KEY=VALUE, e.g. --co COMPRESS=ZSTD")
        parsed.append((key.strip().upper(), value.strip()))
    return tuple(parsed)


def output_profile(
    ds: DatasetReader, scale: int, bands: list[int], alpha: bool, options: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    """satsr's tiled, compressed profile with the user's GDAL creation options over it (keys upper-case)."""
    base = upscaled_profile(ds, scale, bands)
    profile = {k: v for k, v in base.items() if k in CORE_KEYS}
    profile.update({k.upper(): v for k, v in base.items() if k not in CORE_KEYS})
    profile["count"] += alpha
    profile.update(dict(options))
    return profile


def describe_output(
    dst: DatasetWriter, ds: DatasetReader, bands: list[int], mode: str, weights: LoadedWeights,
    precision: Precision, resolution: dict[str, Any],
) -> None:  # fmt: skip
    """Copy colour interpretation, descriptions and tags (not stale statistics); add provenance tags."""
    dst.colorinterp = [ds.colorinterp[b - 1] for b in bands] + (
        [ColorInterp.alpha] if mode == "alpha" else []
    )
    for i, b in enumerate(bands, start=1):
        if ds.descriptions[b - 1]:
            dst.set_band_description(i, ds.descriptions[b - 1])
        kept = {k: v for k, v in ds.tags(b).items() if not k.upper().startswith(DROPPED_BAND_TAGS)}
        dst.update_tags(i, **kept)
    dst.update_tags(**ds.tags(), **provenance_tags(weights), SATSR_PRECISION=precision.name, **resolution)


def provenance_tags(weights: LoadedWeights) -> dict[str, Any]:
    """Which weights made the pixels, and how."""
    return {
        "SATSR_WEIGHTS": weights.path.name,
        "SATSR_WEIGHTS_SHA256": _sha256(weights.path.resolve(), weights.path.stat().st_mtime_ns),
        "SATSR_VERSION": __version__,
        "SATSR_SCALE": weights.scale,
    }


@lru_cache(maxsize=8)
def _sha256(path: Path, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add_overviews(path: Path) -> None:
    """Internal overviews (2, 4, 8 ... averaged, deflate) on a finished plain GeoTIFF."""
    with rasterio.Env(COMPRESS_OVERVIEW="DEFLATE"), rasterio.open(path, "r+") as dst:
        factors: list[int] = []
        side = min(dst.width, dst.height)
        while side // 2 ** (len(factors) + 1) >= OVERVIEW_MIN_SIDE // 2 and len(factors) < 12:
            factors.append(2 ** (len(factors) + 1))
        if factors:
            dst.build_overviews(factors, Resampling.average)
            dst.update_tags(ns="rio_overview", resampling="average")


def copy_to_cog(staging: Path, path: Path, options: tuple[tuple[str, str], ...]) -> None:
    """GDAL's COG driver copies the finished plain GeoTIFF, adding overviews; --co options go to it."""
    rasterio.shutil.copy(staging, path, driver="COG", **{**COG_OPTIONS, **dict(options)})
