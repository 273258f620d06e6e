"""satsr's Python API: upscale files and arrays, load weights, evaluate. Also reachable as `satsr.NAME`
(imported lazily, so `import satsr` stays light).

    import satsr
    weights = satsr.load_weights("gan")                     # shipped short name, file or run directory
    result = satsr.upscale_file("scene.tif", "scene_x4.tif", weights)
    hr, hr_transform = satsr.upscale_array(lr, transform, "EPSG:32631", weights)
    report = satsr.score(sr="scene_x4.tif", hr="aerial.tif", metrics=("psnr", "ssim"))

`satsr.upscale` and `satsr.evaluate` are modules (satsr/upscale.py, satsr/evaluate.py), and a package
attribute cannot be a module and a function at once, so the functions are `upscale_file`,
`upscale_array` and `score` (what `satsr evaluate` does).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

from satsr.errors import UsageError
from satsr.progress import Progress, silent
from satsr.report import EvaluateOptions, EvaluationReport
from satsr.sources import Source
from satsr.upscale import UpscaleOptions, UpscaleResult
from satsr.upscale import upscale_file as _upscale_file
from satsr.weights import LoadedWeights
from satsr.weights import load_weights as _load_weights

_UPSCALE, _EVALUATE = UpscaleOptions(), EvaluateOptions()  # defaults (frozen)
__all__ = ["EvaluateOptions", "UpscaleOptions", "load_weights", "score", "upscale_array", "upscale_file"]


def load_weights(name: str | Path | None = None) -> LoadedWeights:
    """A generator with its normalisation and metadata: "gan" (default), "psnr", a .safetensors file or a
    run directory. Raises WeightsError for a missing or malformed file."""
    return _load_weights(name)


def _weights(weights: LoadedWeights | str | Path | None) -> LoadedWeights:
    return weights if isinstance(weights, LoadedWeights) else _load_weights(weights)


def upscale_file(
    src: Source, dst: str | Path, weights: LoadedWeights | str | Path | None = None,
    options: UpscaleOptions = _UPSCALE, progress: Progress = silent, **option_fields: Any,
) -> UpscaleResult:  # fmt: skip
    """Upscale one raster (a path, URL or GDAL /vsi path) 4x into the GeoTIFF `dst`, as `satsr upscale`
    does; keyword arguments override `options` fields (tile=128, cog=True, overwrite=True ...)."""
    if option_fields:
        options = UpscaleOptions(**{**options.__dict__, **option_fields})
    return _upscale_file(src, Path(dst), _weights(weights), options, progress)


def upscale_array(
    lr: np.ndarray, transform: Affine, crs: Any, weights: LoadedWeights | str | Path | None = None,
    nodata: float | None = None, **option_fields: Any,
) -> tuple[np.ndarray, Affine]:  # fmt: skip
    """Upscale a (C, H, W) or (H, W) array on its georeferenced grid: (4x array, its transform).

    The array goes through the file pipeline (a temporary GeoTIFF in and out), so the pixels are exactly
    those `upscale_file` writes for the same raster: the same tiling, mirrored scene edges, nodata
    handling and dtype round trip, and the same pixel-size check (pass ignore_gsd=True to skip it).
    """
    data = lr[None] if lr.ndim == 2 else lr
    if data.ndim != 3:
        raise UsageError(f"upscale_array: expected a (C, H, W) or (H, W) array, got shape {lr.shape}")
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
               "dtype": data.dtype, "crs": crs, "transform": transform, "nodata": nodata}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="satsr-array-") as folder:
        src, dst = Path(folder) / "lr.tif", Path(folder) / "hr.tif"
        with rasterio.open(src, "w", **profile) as out:
            out.write(data)
        upscale_file(src, dst, weights, **option_fields)
        with rasterio.open(dst) as ds:
            return ds.read(list(range(1, data.shape[0] + 1))), ds.transform


def score(
    model: LoadedWeights | str | Path | None = None, dataset: str | Path | None = None, *,
    sr: Source | None = None, hr: Source | None = None, lr: Source | None = None,
    options: EvaluateOptions = _EVALUATE, progress: Progress = silent, **option_fields: Any,
) -> EvaluationReport:  # fmt: skip
    """Score as `satsr evaluate` does: a model on a dataset split (`model`, `dataset`), a model on a raster
    pair (`model`, `lr`, `hr`) or an upscaled raster (`sr` with `hr` and/or `lr`); beside bicubic and
    lanczos. Keyword arguments override `options` fields (metrics=("psnr", "ssim"), split="val" ...)."""
    if option_fields:
        options = EvaluateOptions(**{**options.__dict__, **option_fields})
    name = str(model.path) if isinstance(model, LoadedWeights) else model
    if sr is not None:
        from satsr.evaluate_raster import evaluate_rasters

        return evaluate_rasters(sr, hr, lr, options, progress)
    if name is not None and lr is not None and hr is not None:
        from satsr.evaluate_raster import evaluate_model_on_pair

        return evaluate_model_on_pair(name, lr, hr, options, progress)
    if name is not None and dataset is not None:
        from satsr.evaluate import evaluate_dataset

        return evaluate_dataset(name, dataset, options, progress)
    raise UsageError("score: give model and dataset, model with lr and hr, or sr with hr and/or lr")
