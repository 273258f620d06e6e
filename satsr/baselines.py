"""The model and its baselines on the same pixels: generator, bicubic and GDAL lanczos.

Everything here maps native-dtype LR arrays to native-dtype HR arrays, cast exactly like a model output
(`Normalisation.inverse`: rounded and clipped to the dtype), so that all three are scored alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from torch import nn

from satsr.models import noise_inputs
from satsr.normalise import Normalisation
from satsr.precision import Precision, resolve_precision

_PLANE = CRS.from_epsg(3857)  # any projected CRS: the warp below is a pure 4x scaling within it
# Grid origin of that warp: away from (0, 0), which GDAL may take for a missing geotransform (all zeros out).
_ORIGIN = 10_000.0


def _forward(lr: np.ndarray, norm: Normalisation) -> torch.Tensor:
    """(N, C, h, w) native -> float32 model-space tensor."""
    return torch.from_numpy(np.moveaxis(norm.forward(np.moveaxis(lr, 1, 0)), 0, 1).copy())


def _inverse(sr: torch.Tensor, norm: Normalisation) -> np.ndarray:
    """(N, C, H, W) model space -> native dtype, rounded and clipped like every satsr output."""
    return np.moveaxis(norm.inverse(np.moveaxis(sr.numpy(), 1, 0)), 0, 1)


def run_generator(
    generator: nn.Module, norm: Normalisation, lr: np.ndarray, precision: Precision | None = None,
    origins: Any = None,
) -> np.ndarray:  # fmt: skip
    """Upscale a batch of whole (N, C, h, w) tiles with no context beyond each tile (the convolutions
    zero-pad at the tile edge): what the network does to an isolated tile. fp32 on the CPU by default.
    `origins`: each tile's top-left (row, col) on its scene in LR px, for a noise-injected generator."""
    precision = precision or resolve_precision("fp32", "cpu")
    inputs = noise_inputs(generator, lr, origins)
    return _inverse(precision.run(precision.prepare(generator), _forward(lr, norm), **inputs), norm)


def bicubic_model(x: torch.Tensor, scale: int) -> torch.Tensor:
    """satsr's one bicubic baseline, in model space: (N, C, h, w) -> (N, C, scale*h, scale*w), torch bicubic
    with align_corners=False (training validation, sample grids, and `bicubic` below)."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def bicubic(lr: np.ndarray, norm: Normalisation, scale: int) -> np.ndarray:
    """(N, C, h, w) native -> (N, C, scale*h, scale*w) native: `bicubic_model` on normalised values, cast
    like a model output."""
    with torch.inference_mode():
        up = bicubic_model(_forward(lr, norm), scale)
    return _inverse(up, norm)


def lanczos(
    lr: np.ndarray, scale: int, valid: np.ndarray | None = None,
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:  # fmt: skip
    """(C, h, w) -> (C, scale*h, scale*w) with GDAL's lanczos warp kernel (what `gdalwarp -r lanczos` does):
    satsr's one lanczos, for tiles (dataset mode) and for windows of a scene (raster modes).

    `valid` (h, w) marks the LR pixels GDAL may use (passed as an alpha band). `window` (col, row, width,
    height), in `lr`'s pixels and possibly reaching beyond it, is the LR area to upscale (default: all of
    `lr`); pixels beyond `lr` do not exist for the kernel, exactly as beyond a scene's edge.
    """
    c, h, w = lr.shape
    col, row, width, height = window or (0, 0, w, h)
    extra = {} if valid is None else {"src_alpha": c + 1, "dst_alpha": c + 1}
    src = np.ascontiguousarray(lr) if valid is None else np.concatenate([lr, np.where(valid, 255, 0).astype(
        lr.dtype)[None]])  # fmt: skip
    dst = np.zeros((src.shape[0], height * scale, width * scale), dtype=lr.dtype)
    reproject(
        src, dst,
        src_transform=Affine(scale, 0, _ORIGIN, 0, -scale, _ORIGIN), src_crs=_PLANE,
        dst_transform=Affine(1, 0, _ORIGIN + col * scale, 0, -1, _ORIGIN - row * scale), dst_crs=_PLANE,
        resampling=Resampling.lanczos, **extra,
    )  # fmt: skip
    return dst[:c]
