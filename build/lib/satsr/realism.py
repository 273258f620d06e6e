"""`realism`: can a classifier that did not train the generator tell its output from aerial photography?

A classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017). Crops of the scored image (the model's SR,
or a baseline) and the HR crops of the same ground are split by place into two halves; a fresh small CNN
(`satsr.realism_net`, its own random initialisation) learns "scored image vs HR" on one half and is tested
on the crops of the other half, then the halves swap. Test accuracy 50 %: the two sets cannot be told
apart; 100 %: every crop gives itself away. Each half's accuracy is reported with a 95 % Wilson interval,
and the overall score pools both (every crop tested once, by a classifier that never saw its place).

- **Crops** lie on a fixed grid of `crop` px cells on each scene's HR grid (offset by half a cell, so a
  256 px tile holds its central 3 x 3 cells); a cell counts when all its pixels are scored (valid, inside
  the shave). Overlapping tiles give the same cell once, so no pixel is ever in both halves.
- **Places** are blocks of `place_cells` x `place_cells` cells; they are shuffled with the seed and dealt
  to the two halves so that both hold about as many crops.
- **What the classifier sees**: each crop's bands standardised (mean 0, std 1): it judges spatial
  structure (detail, noise, texture, artefacts), not colour or contrast, which on real pairs follow
  another capture that an upscaler cannot and should not change.
- **Paired accuracy** (a secondary figure): how often the HR crop of a cell scores as more real than the
  other crop of the same cell, the classifier's version of the human A/B test.
- **Control**: HR against HR (each place's cells dealt at random into two groups, one labelled as the
  scored image; same halves, same classifier), computed once per HR set and reported beside every
  method: it should be about 50 %, and shows the test's own noise on these places.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binomtest

from satsr.metrics import Sample

Cell = tuple[str, int, int]  # scene, cell row, cell col on the scene's grid of crop cells
Place = tuple[str, int, int]  # scene, block row, block col


@dataclass(frozen=True)
class NetConfig:
    """The classifier (satsr.realism_net) and its training."""

    width: int = 16  # channels of the first two convolutions (the last two have 2x)
    steps: int = 300  # Adam steps: fixed, so the test's time is bounded whatever the data size
    batch: int = 32  # crops per step, drawn at random from both classes of the training half
    lr: float = 2e-3  # Adam learning rate
    seed: int = 0  # initialisation, batch draws and augmentation


@dataclass(frozen=True)
class RealismConfig:
    crop: int = 64  # HR px per crop side: 4.8 m at 7.5 cm, a car with its surroundings; 9 per 256 px tile
    place_cells: int = 4  # cells per side of a place (256 HR px, a prepared tile): halves split by place
    max_cells: int = 2048  # cells kept per scored image (a random sample beyond): ~100 MB for 3 bands
    std_floor: float = 1 / 256  # of the data range, added to a crop's std: flat crops stay flat
    min_cells: int = 8  # fewer test cells in a half and the score is nan (too few to mean anything)
    net: NetConfig = field(default_factory=NetConfig)  # the classifier and its training


DEFAULT = RealismConfig()


@dataclass(frozen=True)
class Fold:
    """One direction of the test: trained on one half, tested on the other."""

    correct: int  # right test decisions
    total: int  # test decisions (every crop of the tested half, both classes)
    paired_correct: int = 0  # cells whose HR crop scored as more real than the other crop of the cell
    pairs: int = 0  # cells compared that way (0 for the HR-vs-HR control, which has no pairs)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else math.nan


@dataclass(frozen=True)
class TwoSampleResult:
    folds: tuple[Fold, ...]  # (half 1 -> half 2, half 2 -> half 1); empty when there were too few cells
    cells: int  # crop cells (pairs of crops) that entered the test
    places: int  # places the cells were grouped in
    seconds: float  # wall time of training and testing

    @property
    def correct(self) -> int:
        return sum(f.correct for f in self.folds)

    @property
    def total(self) -> int:
        return sum(f.total for f in self.folds)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else math.nan

    @property
    def paired_accuracy(self) -> float:
        pairs = sum(f.pairs for f in self.folds)
        return sum(f.paired_correct for f in self.folds) / pairs if pairs else math.nan


def wilson(correct: int, total: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (scipy); (nan, nan) without trials."""
    if total == 0:
        return math.nan, math.nan
    ci = binomtest(correct, total).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


class CropBank:
    """Standardised crops of one scored image and of its HR on the same cells, collected sample by sample.

    Memory is bounded: beyond `max_cells` cells a seeded reservoir sample (Vitter's algorithm R) keeps
    `max_cells` of them, each cell as likely as any other, the same ones for the same data and seed."""

    def __init__(self, data_range: float, config: RealismConfig | None = None) -> None:
        config = config or DEFAULT  # looked up at call time: the module's DEFAULT is the one place
        self.config, self.floor = config, config.std_floor * float(data_range)
        self.keys: list[Cell] = []
        self.fake: list[np.ndarray] = []  # the scored image's crops (float16, standardised)
        self.real: list[np.ndarray] = []  # the HR crops of the same cells
        self._seen: set[Cell] = set()
        self._rng = np.random.default_rng(config.net.seed)
        self._samples = 0

    def add(self, s: Sample) -> None:
        self._samples += 1
        if s.hr is None:
            return
        scene, r0, c0 = s.origin or (f"sample {self._samples}", 0, 0)  # no origin: each sample a scene
        for (i, j), block in grid_cells(s.scored, r0, c0, self.config.crop):
            key = (scene, i, j)
            if key in self._seen:
                continue
            self._seen.add(key)
            slot = len(self.keys)
            if slot >= self.config.max_cells:  # reservoir full: replace a random slot, or skip
                slot = int(self._rng.integers(len(self._seen)))
                if slot >= self.config.max_cells:
                    continue
            crops = (
                key,
                self._standardise(s.sr[(slice(None), *block)]),
                self._standardise(s.hr[(slice(None), *block)]),
            )
            for store, item in zip((self.keys, self.fake, self.real), crops, strict=True):
                if slot == len(store):
                    store.append(item)
                else:
                    store[slot] = item

    def _standardise(self, crop: np.ndarray) -> np.ndarray:
        mean = crop.mean(axis=(1, 2), keepdims=True)
        std = crop.std(axis=(1, 2), keepdims=True)
        return ((crop - mean) / (std + self.floor)).astype(np.float16)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        c, s = len(self.fake[0]) if self.fake else 1, self.config.crop
        empty = np.zeros((0, c, s, s), np.float16)
        return (np.stack(self.fake), np.stack(self.real)) if self.keys else (empty, empty)


def grid_cells(scored: np.ndarray, r0: int, c0: int, crop: int) -> Iterator[tuple[tuple[int, int], tuple]]:
    """Cells of the scene grid (crop px, offset crop // 2) inside a sample at (r0, c0) and wholly scored."""
    phase = crop // 2
    h, w = scored.shape
    for i in range(-((r0 - phase) // -crop), (r0 + h - phase) // crop):
        r = phase + i * crop - r0
        for j in range(-((c0 - phase) // -crop), (c0 + w - phase) // crop):
            c = phase + j * crop - c0
            block = (slice(r, r + crop), slice(c, c + crop))
            if scored[block].all():
                yield (i, j), block


def place_of(cell: Cell, place_cells: int) -> Place:
    return cell[0], cell[1] // place_cells, cell[2] // place_cells


def deal(places: list[Place], seed: int) -> dict[Place, int]:
    """Shuffle the distinct places with `seed` and deal each to the side (0/1) holding fewer cells so far."""
    counts: dict[Place, int] = {}
    for p in places:
        counts[p] = counts.get(p, 0) + 1
    order = sorted(counts)
    sides, held = {}, [0, 0]
    for k in np.random.default_rng(seed).permutation(len(order)):
        side = int(held[1] < held[0])
        sides[order[k]] = side
        held[side] += counts[order[k]]
    return sides


def halves(keys: list[Cell], config: RealismConfig) -> np.ndarray:
    """Half (0/1) of every cell, by place."""
    places = [place_of(k, config.place_cells) for k in keys]
    side = deal(places, config.net.seed)
    return np.array([side[p] for p in places], dtype=np.int64)


def two_sample_test(fake: np.ndarray, real: np.ndarray, keys: list[Cell],
                    config: RealismConfig = DEFAULT) -> TwoSampleResult:  # fmt: skip
    """Classifier test of `fake` against `real` crops (the same cells, in `keys` order), both directions."""
    start = time.perf_counter()
    half = halves(keys, config)
    places = len({place_of(k, config.place_cells) for k in keys})
    if min(int((half == 0).sum()), int((half == 1).sum())) < config.min_cells:
        return TwoSampleResult((), len(keys), places, time.perf_counter() - start)
    folds = tuple(
        _fold(fake[half == a], real[half == a], fake[half != a], real[half != a], config.net, paired=True)
        for a in (0, 1)
    )
    return TwoSampleResult(folds, len(keys), places, time.perf_counter() - start)


def hr_control(real: np.ndarray, keys: list[Cell], config: RealismConfig = DEFAULT) -> TwoSampleResult:
    """HR against HR: the cells of every place dealt at random into two equal groups, one labelled as if it
    were the scored image; the same halves and classifier as the real test. Both groups hold the same
    places, so content cannot separate them (as in the real test, where both classes share every cell)."""
    start = time.perf_counter()
    half = halves(keys, config)
    places = [place_of(k, config.place_cells) for k in keys]
    label = cell_groups(places, config.net.seed + 1)
    sets = []
    for a in (0, 1):
        zero, one = np.flatnonzero((half == a) & (label == 0)), np.flatnonzero((half == a) & (label == 1))
        n = min(len(zero), len(one))  # balanced classes: a biased guess cannot score above 50 %
        sets.append((real[zero[:n]], real[one[:n]]))
    if min(len(sets[0][0]), len(sets[1][0])) < config.min_cells // 2:
        return TwoSampleResult((), len(keys), len(set(places)), time.perf_counter() - start)
    folds = tuple(_fold(*sets[a], *sets[1 - a], config.net, paired=False) for a in (0, 1))
    return TwoSampleResult(folds, len(keys), len(set(places)), time.perf_counter() - start)


def cell_groups(places: list[Place], seed: int) -> np.ndarray:
    """0/1 per cell, alternating over each place's cells in a seeded random order (equal within a place)."""
    rng = np.random.default_rng(seed)
    label = np.zeros(len(places), dtype=np.int64)
    members: dict[Place, list[int]] = {}
    for i, p in enumerate(places):
        members.setdefault(p, []).append(i)
    for p in sorted(members):
        cells = np.asarray(members[p])[rng.permutation(len(members[p]))]
        label[cells] = (np.arange(len(cells)) + rng.integers(2)) % 2
    return label


def _fold(train0: np.ndarray, train1: np.ndarray, test0: np.ndarray, test1: np.ndarray, net: NetConfig,
          paired: bool) -> Fold:  # fmt: skip
    """Train on train0 (label 0) vs train1 (label 1, 'real'), test on test0/test1."""
    from satsr.realism_net import predict, train_classifier  # torch: only when a test runs

    crops = np.concatenate([train0, train1])
    labels = np.concatenate([np.zeros(len(train0)), np.ones(len(train1))])
    classifier = train_classifier(crops, labels, net)
    logit0, logit1 = predict(classifier, test0), predict(classifier, test1)
    correct = int((logit0 <= 0).sum() + (logit1 > 0).sum())
    if not paired:
        return Fold(correct, len(test0) + len(test1))
    return Fold(correct, len(test0) + len(test1), int((logit1 > logit0).sum()), len(test0))


_CONTROLS: dict[str, TwoSampleResult] = {}  # HR-vs-HR results by content: computed once per HR set


def cached_control(real: np.ndarray, keys: list[Cell], config: RealismConfig) -> TwoSampleResult:
    """`hr_control`, once per (HR crops, cells, config): the baselines of one run share the same HR."""
    digest = hashlib.sha256(real.tobytes() + repr((keys, config)).encode()).hexdigest()
    if digest not in _CONTROLS:
        if len(_CONTROLS) >= 8:
            _CONTROLS.clear()
        _CONTROLS[digest] = hr_control(real, keys, config)
    return _CONTROLS[digest]


def score_bank(bank: CropBank) -> tuple[TwoSampleResult, TwoSampleResult]:
    """The scored image against HR, and the HR-vs-HR control, on the bank's cells."""
    fake, real = bank.arrays()
    return two_sample_test(fake, real, bank.keys, bank.config), cached_control(real, bank.keys, bank.config)


def summary(result: TwoSampleResult, control: TwoSampleResult) -> dict[str, float]:
    """Labelled figures for the report: each direction and the pooled score with 95 % intervals."""
    out: dict[str, float] = {}
    for name, r in (("", result), ("hr_vs_hr_", control)):
        out[f"{name}accuracy"] = r.accuracy
        out[f"{name}low"], out[f"{name}high"] = wilson(r.correct, r.total)
        for k, fold in enumerate(r.folds, start=1):
            out[f"{name}half{k}_to_half{3 - k}"] = fold.accuracy
            out[f"{name}half{k}_to_half{3 - k}_low"], out[f"{name}half{k}_to_half{3 - k}_high"] = wilson(
                fold.correct, fold.total
            )
    out["paired_accuracy"] = result.paired_accuracy
    out["cells"], out["places"], out["seconds"] = float(result.cells), float(result.places), result.seconds
    return out
