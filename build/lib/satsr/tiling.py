"""Pure window maths: tile grids, context margins and LR<->HR mapping. No I/O."""

from __future__ import annotations

from collections.abc import Iterator

from rasterio.windows import Window


def full_tiles(width: int, height: int, tile: int, stride: int) -> Iterator[Window]:
    """Windows of `tile` px every `stride` px that lie wholly inside a width x height raster."""
    for row in range(0, height - tile + 1, stride):
        for col in range(0, width - tile + 1, stride):
            yield Window(col, row, tile, tile)


def covering_tiles(width: int, height: int, tile: int) -> Iterator[Window]:
    """Non-overlapping windows that cover the raster exactly; the last row/column may be smaller."""
    for row in range(0, height, tile):
        for col in range(0, width, tile):
            yield Window(col, row, min(tile, width - col), min(tile, height - row))


def with_margin(window: Window, margin: int) -> Window:
    """The window grown by `margin` px on every side (it may reach outside the raster)."""
    col, row, grown = window.col_off - margin, window.row_off - margin, 2 * margin
    return Window(col, row, window.width + grown, window.height + grown)


def scale_window(window: Window, scale: int) -> Window:
    """The same ground area on a grid `scale` times finer (LR window -> HR window)."""
    return Window(window.col_off * scale, window.row_off * scale, window.width * scale, window.height * scale)
