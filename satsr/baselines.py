"""The model and its baselines on the same pixels: generator, bicubic and GDAL lanczos.

Everything here maps native-dtype LR arrays to native-dtype HR arrays, cast exactly like a model output
(`Normalisation.inverse`: rounded and clipped to the dtype), so that all three are scored alike.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from torch import nn

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
    generator: nn.Module, norm: Normalisation, lr: np.ndarray, precision: Precision | None = None
) -> np.ndarray:
    """Upscale a batch of whole (N, C, h, w) tiles with no context beyond each tile (the convolutions
    zero-pad at the tile edge): what the network does to an isolated tile. fp32 on the CPU by default."""
    precision = precision or resolve_precision("fp32", "cpu")
    return _inverse(precision.run(precision.prepare(generator), _forward(lr, norm)), norm)


def bicubic(lr: np.ndarray, norm: Normalisation, scale: int) -> np.ndarray:
    """(N, C, h, w) -> (N, C, scale*h, scale*w): torch bicubic, align_corners=False, on normalised values."""
    with torch.inference_mode():
        up = F.interpolate(_forward(lr, norm), scale_factor=scale, mode="bicubic", align_corners=False)
    return _inverse(up, norm)


def lanczos(lr: np.ndarray, scale: int, src_nodata: float | None = None) -> np.ndarray:
    """(C, h, w) -> (C, scale*h, scale*w) with GDAL's lanczos warp kernel (what `gdalwarp -r lanczos` does).

    `src_nodata` marks LR pixels GDAL must leave out of the kernel (they are then not scored anyway).
    """
    c, h, w = lr.shape
    dst = np.zeros((c, h * scale, w * scale), dtype=lr.dtype)
    reproject(
        np.ascontiguousarray(lr), dst,
        src_transform=Affine(scale, 0, _ORIGIN, 0, -scale, _ORIGIN), src_crs=_PLANE, src_nodata=src_nodata,
        dst_transform=Affine(1, 0, _ORIGIN, 0, -1, _ORIGIN), dst_crs=_PLANE, dst_nodata=src_nodata,
        resampling=Resampling.lanczos,
    )  # fmt: skip
    return dst
