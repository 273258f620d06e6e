"""Tiled model inference on one raster: context reads, border reflection, nodata fill, centre crop.

Every tile is read with a context margin of at least the generator's receptive radius and only its
centre is kept, so a tiled result equals whole-image inference (on the reflection-padded scene) up to
float noise: no seams, no blending needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from rasterio.enums import ColorInterp
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.windows import Window
from scipy.ndimage import distance_transform_edt
from torch import nn

from satsr.normalise import Normalisation
from satsr.precision import Precision
from satsr.raster import has_mask, read_window
from satsr.tiling import scale_window, with_margin


@dataclass(frozen=True)
class TileJob:
    """One unit of work: the LR window it writes and the (larger) LR window the model sees."""

    core: Window  # non-overlapping LR window whose upscaled pixels this tile writes
    context: Window  # LR window fed to the model: core (shifted inside the scene) plus the margin


ALIGN = 64  # LR tile sides snap to this: 4x it is the 256 px output block, so blocks are written whole


def tile_side(size: int, tile: int) -> int:
    """Tile side along an axis of `size` px: at most `tile`, balanced so the last tile is not a sliver
    (a 300 px scene gets 2 x 192, not 256 + 44), aligned to output blocks where that costs little."""
    count = -(-size // tile)
    side = -(-size // count)
    return min(tile, -(-side // ALIGN) * ALIGN) if side > ALIGN else side


def plan_tiles(width: int, height: int, tile: int, margin: int) -> Iterator[TileJob]:
    """Tiles covering the scene; every context window has the same shape, so tiles batch together.

    An edge tile that would be smaller is read as a full tile shifted back inside the scene; only its
    core is written.
    """
    tile_w, tile_h = tile_side(width, tile), tile_side(height, tile)
    for row in range(0, height, tile_h):
        for col in range(0, width, tile_w):
            core = Window(col, row, min(tile_w, width - col), min(tile_h, height - row))
            context = Window(min(col, width - tile_w), min(row, height - tile_h), tile_w, tile_h)
            yield TileJob(core, with_margin(context, margin))


def tile_count(width: int, height: int, tile: int) -> int:
    return -(-width // tile_side(width, tile)) * -(-height // tile_side(height, tile))


def read_context(src: DatasetReader, window: Window, bands: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) data and (H, W) validity for `window`; outside the scene both are mirrored.

    Reflection (instead of a boundless read's constant fill) keeps edge pixels sensible: the model sees
    plausible imagery beyond the scene border, not a black frame.
    """
    col, row, width, height = (int(v) for v in (window.col_off, window.row_off, window.width, window.height))
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + width, src.width), min(row + height, src.height)
    data, valid = read_window(src, Window(c0, r0, c1 - c0, r1 - r0), bands)
    pads = ((r0 - row, row + height - r1), (c0 - col, col + width - c1))
    if any(p for pair in pads for p in pair):
        data = np.pad(data, ((0, 0), *pads), mode="reflect")
        valid = np.pad(valid, pads, mode="reflect")
    return data, valid


def fill_invalid(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid pixels by the nearest valid one, so nodata values never leak into valid output."""
    if valid.all() or not valid.any():
        return data
    rows, cols = distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return data[:, rows, cols]


class TileRunner:
    """Runs batches of equally shaped LR tiles through a generator in one precision.

    `infer` is the model alone (model-space in, model-space out), so that the upscale pipeline can do the
    normalisation and the cropping on its reading and writing threads while the model runs.
    """

    def __init__(self, generator: nn.Module, normalisation: Normalisation, precision: Precision) -> None:
        self.generator = precision.prepare(generator).eval()
        self.normalisation = normalisation
        self.precision = precision
        self.scale: int = generator.spec.scale  # type: ignore[union-attr]

    def infer(self, x: np.ndarray) -> np.ndarray:
        """(N, C, h, w) float32 model-space tiles -> (N, C, scale*h, scale*w) float32 model-space output."""
        return self.precision.run(self.generator, torch.from_numpy(x)).numpy()

    def to_model(self, tiles: list[np.ndarray]) -> np.ndarray:
        """Native-dtype (C, h, w) tiles -> one float32 model-space batch."""
        return np.stack([self.normalisation.forward(t) for t in tiles])

    def from_model(self, jobs: list[TileJob], y: np.ndarray) -> list[np.ndarray]:
        """Model-space batch -> native-dtype HR cores, rounded and clipped."""
        scale = self.scale
        return [self.normalisation.inverse(core_of(hr, job, scale)) for hr, job in zip(y, jobs, strict=True)]


def upscale_mask(lr_valid: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour `scale`x of a validity mask: each LR pixel's verdict covers its scale x scale HR
    pixels."""
    return np.repeat(np.repeat(lr_valid, scale, axis=0), scale, axis=1)


def core_of(arr: np.ndarray, job: TileJob, scale: int = 1) -> np.ndarray:
    """The core window's part of an array on the job's context window (last two axes), `scale`x finer."""
    core, ctx = scale_window(job.core, scale), scale_window(job.context, scale)
    row, col = int(core.row_off - ctx.row_off), int(core.col_off - ctx.col_off)
    return arr[..., row : row + int(core.height), col : col + int(core.width)]


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
