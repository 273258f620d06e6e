"""Pure window maths on `rasterio.windows`: tile grids, context margins, clipping to a raster, LR<->HR
mapping of windows and of validity masks, and the tile plan of upscale (TileJob, plan_tiles). No I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from rasterio.errors import WindowError
from rasterio.windows import Window, subdivide


def full_tiles(width: int, height: int, tile: int, stride: int) -> Iterator[Window]:
    """Windows of `tile` px every `stride` px that lie wholly inside a width x height raster."""
    for row in range(0, height - tile + 1, stride):
        for col in range(0, width - tile + 1, stride):
            yield Window(col, row, tile, tile)


def covering_tiles(width: int, height: int, tile: int) -> Iterator[Window]:
    """Non-overlapping windows that cover the raster exactly, row by row; the last row/column may be
    smaller (`rasterio.windows.subdivide`)."""
    yield from subdivide(Window(0, 0, width, height), tile, tile)


def clip(window: Window, width: int, height: int) -> Window | None:
    """The part of `window` inside a width x height raster (None when they do not overlap)."""
    try:
        return window.intersection(Window(0, 0, width, height))
    except WindowError:
        return None


def with_margin(window: Window, margin: int) -> Window:
    """The window grown by `margin` px on every side (it may reach outside the raster)."""
    col, row, grown = window.col_off - margin, window.row_off - margin, 2 * margin
    return Window(col, row, window.width + grown, window.height + grown)


def scale_window(window: Window, scale: int) -> Window:
    """The same ground area on a grid `scale` times finer (LR window -> HR window)."""
    return Window(window.col_off * scale, window.row_off * scale, window.width * scale, window.height * scale)


def upscale_mask(lr_valid: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour `scale`x of an (h, w) validity mask: each LR pixel's verdict covers its scale x scale
    HR pixels."""
    return np.repeat(np.repeat(lr_valid, scale, axis=0), scale, axis=1)


def downscale_mask(hr_valid: np.ndarray, scale: int) -> np.ndarray:
    """(H, W) -> (ceil(H/scale), ceil(W/scale)): an LR pixel is valid only when all HR pixels above it are
    (a partial block at the edge is not)."""
    h, w = hr_valid.shape
    rows, cols = -(-h // scale), -(-w // scale)
    full = np.zeros((rows * scale, cols * scale), dtype=bool)
    full[:h, :w] = hr_valid
    return full.reshape(rows, scale, cols, scale).all(axis=(1, 3))


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


def core_of(arr: np.ndarray, job: TileJob, scale: int = 1) -> np.ndarray:
    """The core window's part of an array on the job's context window (last two axes), `scale`x finer."""
    core, ctx = scale_window(job.core, scale), scale_window(job.context, scale)
    row, col = int(core.row_off - ctx.row_off), int(core.col_off - ctx.col_off)
    return arr[..., row : row + int(core.height), col : col + int(core.width)]
