"""Spatial train/val/test split: whole blocks of tiles go to one split, with a buffer against leakage.

Random tile-level splits leak: neighbouring tiles share ground, texture and even pixels (stride < tile),
so validation scores look better than on a new place. Here tiles are grouped in blocks of `block` x `block`
tile positions; blocks (pooled over scenes, shuffled with the seed) fill val, then test, up to their
fractions of the kept tiles (overshooting by at most half a block); the rest is train. A val/test tile
whose footprint overlaps or touches a train tile (closed squares intersect) is dropped as "buffer".
Scenes listed as held out go wholly to test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

BUFFER = "buffer"  # the reason recorded for val/test tiles dropped next to train tiles
AUTO_BLOCK = 8  # default block side; prepare tries smaller ones when it leaves val or test empty
MIN_AUTO_BLOCK = 3  # a smaller block loses every tile to the buffer when train tiles surround it


@dataclass(frozen=True)
class TilePosition:
    scene: str  # scene name
    col: int  # col_off of the tile on the scene's LR grid (px)
    row: int  # row_off of the tile on the scene's LR grid (px)


@dataclass(frozen=True)
class SplitSpec:
    val: float = 0.1  # fraction of the non-held-out tiles that go to validation
    test: float = 0.0  # fraction of the non-held-out tiles that go to test
    block: int = 8  # block side in tile positions (block x block tiles share a split)
    seed: int = 0  # seed of the block shuffle


def assign_splits(
    tiles: Sequence[TilePosition], spec: SplitSpec, tile: int, stride: int, held_out: set[str]
) -> list[str]:
    """Split name ("train", "val", "test") or BUFFER for every tile, deterministic for a seed."""
    splits = ["test" if t.scene in held_out else "" for t in tiles]
    blocks: dict[tuple[str, int, int], list[int]] = {}
    side = spec.block * stride
    for i, t in enumerate(tiles):
        if not splits[i]:
            blocks.setdefault((t.scene, t.row // side, t.col // side), []).append(i)
    keys = sorted(blocks)  # a fixed order before the seeded shuffle
    total = sum(len(members) for members in blocks.values())
    quota = {"val": spec.val * total, "test": spec.test * total}
    filled = {"val": 0, "test": 0}
    for k in np.random.default_rng(spec.seed).permutation(len(keys)):
        members = blocks[keys[k]]
        # a block joins a held-out split only if that brings the split closer to its quota
        name = next((s for s in ("val", "test") if filled[s] + len(members) / 2 <= quota[s]), "train")
        if name != "train":
            filled[name] += len(members)
        for i in members:
            splits[i] = name
    return _buffer(tiles, splits, tile, stride)


def _buffer(tiles: Sequence[TilePosition], splits: list[str], tile: int, stride: int) -> list[str]:
    """Mark val/test tiles that overlap or touch a train tile of the same scene as BUFFER."""
    train = {(t.scene, t.col, t.row) for t, s in zip(tiles, splits, strict=True) if s == "train"}
    reach = math.floor(tile / stride)  # lattice steps within which two tiles' closed squares meet
    out = list(splits)
    for i, t in enumerate(tiles):
        if splits[i] not in ("val", "test"):
            continue
        steps = range(-reach, reach + 1)
        if any((t.scene, t.col + dc * stride, t.row + dr * stride) in train for dr in steps for dc in steps):
            out[i] = BUFFER
    return out


def touches(a: TilePosition, b: TilePosition, tile: int) -> bool:
    """True when the closed footprints of two tiles of `tile` px intersect (overlap or shared edge/corner)."""
    return a.scene == b.scene and abs(a.col - b.col) <= tile and abs(a.row - b.row) <= tile


def split_with_blocks(
    tiles: Sequence[TilePosition], spec: SplitSpec, tile: int, stride: int, held_out: set[str], auto: bool
) -> tuple[list[str], int]:
    """`assign_splits`, and the block side used. With `auto`, the largest side from spec.block halved down
    to MIN_AUTO_BLOCK that leaves no wanted split (fraction > 0) empty: few tiles in big blocks otherwise
    give no val split at all (a block joins val only if that does not overshoot its quota)."""
    sides = [spec.block]
    while auto and sides[-1] > MIN_AUTO_BLOCK:
        sides.append(max(sides[-1] // 2, MIN_AUTO_BLOCK))
    for side in sides:
        splits = assign_splits(tiles, replace(spec, block=side), tile, stride, held_out)
        if not empty_splits(splits, spec):
            return splits, side
    return assign_splits(tiles, spec, tile, stride, held_out), spec.block


def empty_splits(splits: list[str], spec: SplitSpec) -> list[str]:
    """The held-out splits asked for (fraction > 0) that got no tile."""
    wanted = (("val", spec.val), ("test", spec.test))
    return [name for name, share in wanted if share > 0 and name not in splits]


def split_notes(splits: list[str], spec: SplitSpec, shrunk: bool) -> list[str]:
    """What the user should know about the split: a smaller block than the default, an empty split."""
    notes = []
    if shrunk:
        notes.append(f"split blocks of {spec.block}x{spec.block} tiles: {AUTO_BLOCK} left val or test empty")
    kept = sum(s != BUFFER for s in splits)
    for name in empty_splits(splits, spec):
        use = "`satsr train` needs a val split" if name == "val" else "`satsr evaluate` scores the test split"
        notes.append(f"the {name} split is empty ({kept} tiles kept); {use}: add scenes, or lower --block")
    return notes
