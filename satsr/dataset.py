"""Torch datasets over prepared datasets: memory-mapped tiles, random crops, flips and 90-degree rotations.

Randomness never comes from worker-local state: the sampler hands every sample its own seed, derived from
(run seed, global sample position). Any worker, any number of workers, and a resumed run therefore see
exactly the same crops in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from satsr.degrade import RandomDegradation, degrade_random
from satsr.errors import DataError
from satsr.manifest import Manifest, check_arrays, load_manifest, open_scene
from satsr.normalise import Normalisation
from satsr.raster import fill_invalid


@dataclass(frozen=True)
class Source:
    """One prepared dataset opened for training."""

    root: Path
    manifest: Manifest


def open_sources(roots: Sequence[str | Path]) -> list[Source]:
    """Load the manifests and check that they can be mixed (same scale, bands, dtype, normalisation)."""
    if not roots:
        raise DataError("no dataset given; pass one or more directories written by `satsr prepare`")
    sources = [Source(Path(r), load_manifest(r)) for r in roots]
    for source in sources:
        check_arrays(source.root, source.manifest)
    first = sources[0]
    for src in sources[1:]:
        a, b = first.manifest, src.manifest
        for what, x, y in (
            ("scale", a.scale, b.scale),
            ("bands", a.bands, b.bands),
            ("dtype", a.dtype, b.dtype),
        ):
            if x != y:
                raise DataError(
                    f"{src.root}: {what} {y} differs from {first.root} ({x}); mix only alike datasets"
                )
        if not same_normalisation(a.norm, b.norm):
            raise DataError(
                f"{src.root}: normalisation {b.normalisation} differs from {first.root} ({a.normalisation}); "
                "prepare both with the same normalisation to mix them"
            )
    scale = first.manifest.scale
    if scale < 2 or scale & (scale - 1):
        raise DataError(f"{first.root}: scale {scale}; satsr trains power-of-two scales only (2, 4, 8)")
    return sources


def same_normalisation(a: Normalisation, b: Normalisation) -> bool:
    return a.dtype == b.dtype and np.allclose(a.low, b.low) and np.allclose(a.high, b.high)


class TileDataset(Dataset):
    """(lr, hr, valid, softness) tiles of one split of one or more prepared datasets, normalised to [0, 1].

    With `hr_crop`, items are indexed by (tile, seed) pairs and return a random crop with a random flip and
    rotation drawn from `seed`; without it, items are indexed by tile number and returned whole.

    With `redegrade`, the LR of degraded (aerial-only) datasets is not read but drawn anew from the HR for
    every item, from the same seed (whole tiles: a fixed seed per tile, so validation stays comparable);
    real pairs keep their real LR. `softness` is the blur of a drawn degradation (satsr.degrade, HR px), NaN
    where it is unknown (real pairs, stored LR): what a softness-conditioned generator learns to estimate.
    """

    def __init__(
        self, sources: Sequence[Source], split: str, hr_crop: int | None = None,
        redegrade: RandomDegradation | None = None,
    ) -> None:  # fmt: skip
        self.sources = list(sources)
        self.norm = self.sources[0].manifest.norm
        self.hr_crop = hr_crop
        self.redegrade = redegrade
        self.scale = self.sources[0].manifest.scale  # HR px per LR px (the same in every source)
        self.items: list[tuple[int, str, int]] = [
            (i, t.scene, t.index) for i, s in enumerate(self.sources) for t in s.manifest.split(split)
        ]
        self._arrays: dict[tuple[int, str], tuple[Any, Any]] = {}  # opened lazily, once per process
        lr_tile = min(s.manifest.lr_tile for s in self.sources)
        s = self.scale
        if hr_crop is not None and hr_crop // s > lr_tile:
            raise DataError(
                f"{self.sources[0].root}: hr_crop {hr_crop} exceeds the HR tile size {s * lr_tile}; "
                f"lower hr_crop to at most {s * lr_tile}"
            )
        if hr_crop is not None and hr_crop % s:
            raise DataError(f"{self.sources[0].root}: hr_crop {hr_crop} is not a multiple of the scale {s}; "
                            f"choose a multiple of {s}")  # fmt: skip

    def __len__(self) -> int:
        return len(self.items)

    def _open(self, source: int, scene: str) -> tuple[Any, Any]:
        key = (source, scene)
        if key not in self._arrays:
            self._arrays[key] = open_scene(self.sources[source].root, scene)
        return self._arrays[key]

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, ...]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        source, scene, row = self.items[index]
        lr_all, hr_all = self._open(source, scene)
        lr, hr = lr_all[row], hr_all[row]
        if self.sources[source].manifest.zero_is_nodata:
            valid = np.asarray(np.asarray(hr).any(axis=0))
        else:
            valid = np.ones(hr.shape[1:], dtype=bool)
        softness = float("nan")
        if self._draws_lr(source, seed):
            lr, hr, valid, softness = self._redegraded(hr, valid, index, seed)
        elif self.hr_crop is not None and seed is not None:
            rng = np.random.default_rng(seed)
            lr, hr, valid = random_crop(lr, hr, valid, self.hr_crop // self.scale, rng, self.scale)
        lr_n = self.norm.forward(np.ascontiguousarray(lr))
        hr_n = self.norm.forward(np.ascontiguousarray(hr))
        valid_t = torch.from_numpy(np.ascontiguousarray(valid))
        return torch.from_numpy(lr_n), torch.from_numpy(hr_n), valid_t, torch.tensor(softness)

    def _draws_lr(self, source: int, seed: int | None) -> bool:
        """Whether this item's LR is drawn anew: a degraded dataset's, unless a training crop keeps its
        stored LR (`stored_prob`, from its own stream of the item's seed; whole tiles always draw)."""
        if self.redegrade is None or self.sources[source].manifest.degradation is None:
            return False
        return seed is None or np.random.default_rng([seed, 3]).random() >= self.redegrade.stored_prob

    def _redegraded(
        self, hr: np.ndarray, valid: np.ndarray, index: int, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """A fresh LR (and its softness) from an HR crop with as much real context around it as the tile
        holds. Invalid HR pixels (zeroed by prepare) take their nearest valid value first, so no dark halo
        blurs into the LR, as prepare's fixed recipe does."""
        assert self.redegrade is not None
        scale = self.scale
        if self.hr_crop is None or seed is None:  # whole tile (validation): edges reflected
            source = fill_invalid(np.asarray(hr), valid)
            fixed = np.random.default_rng([7, index])
            lr, softness = degrade_random(source, self.redegrade, fixed, scale)
            return lr, hr, valid, softness
        rng = np.random.default_rng(seed)
        lr_crop = self.hr_crop // scale
        context = min(self.redegrade.margin(scale) // scale, (hr.shape[1] // scale - lr_crop) // 2)
        side = lr_crop + 2 * context  # LR px of the crop with its context
        lr_grid = np.empty((0, hr.shape[1] // scale, hr.shape[2] // scale))  # shape only: offsets in LR px
        _, hr, valid = random_crop(lr_grid, hr, valid, side, rng, scale)
        source = fill_invalid(np.ascontiguousarray(hr), np.asarray(valid))
        lr, softness = degrade_random(source, self.redegrade, rng, scale, context * scale)
        inner = slice(context * scale, (context + lr_crop) * scale)
        return lr, hr[:, inner, inner], valid[inner, inner], softness


def random_crop(
    lr: np.ndarray, hr: np.ndarray, valid: np.ndarray, lr_crop: int, rng: np.random.Generator, scale: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aligned LR/HR crop (HR offsets are exactly `scale` x the LR ones), then the same flip and rot90 on
    both."""
    row = int(rng.integers(0, lr.shape[1] - lr_crop + 1))
    col = int(rng.integers(0, lr.shape[2] - lr_crop + 1))
    s, hr_crop = scale, lr_crop * scale
    lr = lr[:, row : row + lr_crop, col : col + lr_crop]
    hr = hr[:, row * s : row * s + hr_crop, col * s : col * s + hr_crop]
    valid = valid[row * s : row * s + hr_crop, col * s : col * s + hr_crop]
    k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
    out = []
    for a in (lr, hr, valid):
        a = np.rot90(a, k, axes=(-2, -1))
        out.append(a[..., ::-1] if flip else a)
    return out[0], out[1], out[2]


class CropSampler(Sampler):
    """Endless batches of (tile, seed) pairs, reproducible from (seed, step) and sharded across ranks.

    Global sample position p of step s runs over [s * B * W, (s + 1) * B * W); rank r takes its slice
    [r * B, (r + 1) * B) of that. Position p belongs to epoch p // n, whose order is a permutation seeded by
    (seed, epoch). Starting at `start_step` therefore continues exactly where a stopped run left off.
    """

    def __init__(
        self, n: int, batch: int, seed: int, start_step: int = 0, rank: int = 0, world: int = 1
    ) -> None:
        if n < 1:
            raise DataError("the train split has no tiles; prepare more data or change the split")
        self.n, self.batch, self.seed = n, batch, seed
        self.start_step, self.rank, self.world = start_step, rank, world
        self._perm: tuple[int, np.ndarray] | None = None

    def _order(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._perm[1]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            first = (step * self.world + self.rank) * self.batch
            batch = []
            for p in range(first, first + self.batch):
                seed = int(np.random.default_rng([self.seed, 1, p]).integers(0, 2**63 - 1))
                batch.append((int(self._order(p // self.n)[p % self.n]), seed))
            yield batch
            step += 1
