"""`satsr prepare`: aligned LR/HR tiles of real pairs or degraded aerial scenes -> a split training set.

Per scene (see satsr.pairs): tiles on the LR grid, read strip by strip; a tile is kept where LR and HR are
valid over `valid_fraction`, the HR is not near-uniform (`min_std`) and, for real pairs, the LR-to-HR shift
measured by phase correlation is at most `max_shift` LR px. Kept tiles are appended to per-scene raw files,
then split by space (satsr.split) and written in the satsr.manifest format inside `atomic_output`, so an
interrupted run leaves no finished-looking dataset.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from satsr import SCALE, __version__
from satsr.degrade import Degradation, degrade
from satsr.errors import DataError, OutputExistsError, UsageError
from satsr.luminance import LUMINANCE_NAME, to_luminance
from satsr.manifest import MANIFEST, Manifest, SceneRecord, TileRecord, save_manifest
from satsr.normalise import Normalisation
from satsr.outputs import atomic_output, refuse_inputs
from satsr.pairs import Candidate, FillRule, estimate_shift, open_scene
from satsr.progress import Progress, silent
from satsr.scenes import SceneSource, held_out, sources_for
from satsr.split import AUTO_BLOCK, BUFFER, SplitSpec, TilePosition, split_notes, split_with_blocks
from satsr.tilestack import SceneStack

REASONS = ("invalid", "uniform", "misregistered", BUFFER)  # why a candidate tile was dropped


@dataclass(frozen=True)
class PrepareConfig:
    tile: int = 64  # LR tile size in px (HR tile = 4x)
    stride: int | None = None  # LR px between tile origins; None: the tile size (no overlap)
    valid_fraction: float = 1.0  # minimum fraction of pixels valid in both LR and HR
    min_std: float = 1.0  # drop tiles whose HR std (largest over bands, in DN) is below this; 0: keep all
    max_shift: float = 0.5  # drop real-pair tiles whose measured LR->HR shift exceeds this (LR px)
    val: float = 0.1  # fraction of tiles (outside held-out scenes) in validation blocks
    test: float | None = None  # fraction in test blocks; None: 0.1, or 0 when test_scenes are given
    test_scenes: tuple[str, ...] = ()  # scene names or glob patterns held out whole as test
    block: int | None = None  # split block side in tile positions; None: 8, or smaller if 8 leaves val empty
    seed: int = 0  # seed of the split and of the degradation draws
    bands: tuple[int, ...] | None = None  # 1-based band selection; None: all non-alpha bands
    fill: FillRule = field(default_factory=FillRule)  # black fill detection in rasters that declare no mask
    luminance: bool = False  # write 1-band Rec. 601 luma tiles of RGB scenes (training a panchromatic model)
    scale: int = SCALE  # HR px per LR px: a power of two (the model trained on the set upscales by it)
    hr_gsd: float | None = None  # aerial only: read the HR at this ground pixel (m) first; None: its own

    @property
    def step(self) -> int:
        return self.stride or self.tile

    def split_spec(self) -> SplitSpec:
        test = self.test if self.test is not None else (0.0 if self.test_scenes else 0.1)
        return SplitSpec(val=self.val, test=test, block=self.block or AUTO_BLOCK, seed=self.seed)

    def check(self) -> None:
        if self.scale < 2 or self.scale & (self.scale - 1):
            raise UsageError(f"--scale {self.scale}: must be a power of two (2, 4, 8)")
        if self.tile < 8 or (self.stride is not None and self.stride < 1):
            raise UsageError(f"--tile {self.tile} / --stride {self.stride}: need tile >= 8 and stride >= 1")
        if not 0 < self.valid_fraction <= 1:
            raise UsageError(f"--valid-fraction {self.valid_fraction}: must be in (0, 1]")
        if self.block is not None and self.block < 1:
            raise UsageError(f"--block {self.block}: a split block is at least 1 tile wide")
        if self.seed < 0:
            raise UsageError(f"--seed {self.seed}: must be 0 or more")
        spec = self.split_spec()
        if not (spec.val >= 0 and spec.test >= 0 and spec.val + spec.test < 1):  # NaN fails too
            raise UsageError(f"--val {spec.val} --test {spec.test}: need fractions >= 0 with a sum below 1")
        for name, value in (("--min-std", self.min_std), ("--max-shift", self.max_shift)):
            if not (math.isfinite(value) and value >= 0):
                raise UsageError(f"{name} {value}: must be a finite number >= 0")
        if self.hr_gsd is not None and not (math.isfinite(self.hr_gsd) and self.hr_gsd > 0):
            raise UsageError(f"--hr-gsd {self.hr_gsd}: give the HR ground pixel in metres, e.g. 0.3")
        if self.fill.value is not None and not math.isfinite(self.fill.value):
            raise UsageError(f"--nodata-value {self.fill.value}: give a finite value, or 'none' for no fill")


@dataclass(frozen=True)
class SceneSummary:
    name: str  # scene name
    kind: str  # "pair" or "degraded"
    candidates: int  # tile positions examined
    kept: dict[str, int]  # tiles kept per split
    dropped: dict[str, int]  # tiles dropped per reason (REASONS)


@dataclass(frozen=True)
class PrepareResult:
    output: Path  # the dataset directory
    scenes: list[SceneSummary]  # per-scene counts
    shift: dict[str, float]  # distribution of measured shifts in LR px (count, median, p90, max)
    normalisation: Normalisation  # stored in the manifest, later in the weights
    seconds: float  # wall time
    notes: list[str] = field(default_factory=list)  # what the user should know (split block, empty val)


@dataclass
class _Collected:
    """Per-scene output of the tile pass, before the split is known."""

    source: SceneSource
    reader_info: dict[str, Any]
    positions: list[TilePosition] = field(default_factory=list)
    shifts: list[float | None] = field(default_factory=list)  # per kept tile
    measured: list[float] = field(default_factory=list)  # every shift measured (kept or not)
    candidates: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))


def prepare(
    inputs: list[Path],
    output: Path,
    config: PrepareConfig = PrepareConfig(),
    degradation: Degradation | None = None,
    overwrite: bool = False,
    progress: Progress = silent,
) -> PrepareResult:
    """Build a dataset from real pairs (degradation None) or aerial rasters (degradation given)."""
    start = time.perf_counter()
    config.check()
    if config.hr_gsd is not None and degradation is None:
        raise UsageError("--hr-gsd coarsens aerial rasters for --degrade; real pairs keep their own grids")
    if degradation is not None and degradation.scale != config.scale:
        raise UsageError(f"degradation scale {degradation.scale} differs from --scale {config.scale}")
    refuse_inputs([output], inputs, "dataset folder")
    _check_replaceable(output, overwrite)
    sources = sources_for(inputs, degradation is not None)
    test_names = held_out(sources, config.test_scenes)
    bands, dtype = _validate(sources, config)
    with atomic_output(output, overwrite=overwrite) as tmp:
        (tmp / "scenes").mkdir(parents=True)
        collected, stacks = [], []
        for i, source in enumerate(sources):
            with SceneStack(tmp, source.name, dtype) as stack:
                collected.append(_scene_pass(source, i, config, degradation, stack, progress))
            stacks.append(stack)
        positions = [p for c in collected for p in c.positions]
        auto = config.block is None
        spec = config.split_spec()
        splits, block = split_with_blocks(positions, spec, config.tile, config.step, test_names, auto)
        config = replace(config, block=block)  # the manifest records the block side used
        if not positions:
            dropped = {r: sum(c.dropped[r] for c in collected) for r in REASONS[:3]}
            raise DataError(
                f"{inputs[0]}: no tile passed the filters (dropped: {dropped}); "
                "lower --valid-fraction or --min-std, raise --max-shift, or check the inputs"
            )
        norm = _finish(stacks, splits, config, bands, dtype, progress)
        manifest = _manifest(collected, splits, config, degradation, bands, dtype)
        save_manifest(tmp, replace(manifest, normalisation=norm.to_dict()))
    summaries = _summaries(collected, splits)
    notes = split_notes(splits, config.split_spec(), shrunk=auto and block != AUTO_BLOCK)
    return PrepareResult(output, summaries, shift_stats(collected), norm, time.perf_counter() - start, notes)


def _check_replaceable(output: Path, overwrite: bool) -> None:
    """--overwrite replaces a satsr dataset (or an empty folder), never another file or folder."""
    if not overwrite or not output.exists() or (output / MANIFEST).is_file():
        return
    if output.is_dir() and not any(output.iterdir()):
        return
    raise OutputExistsError(
        f"{output}: exists and is not a satsr dataset; --overwrite replaces only datasets, "
        "choose another -o (or remove it yourself)"
    )


def _validate(sources: list[SceneSource], config: PrepareConfig) -> tuple[int, str]:
    """Open every scene before writing anything: all must pass check_pair and share bands and dtype.

    A scene smaller than one tile is not an error: it yields no candidates and shows as such in the summary.
    """
    seen: tuple[int, str, str] | None = None
    for source in sources:
        bands = list(config.bands) if config.bands else None
        with open_scene(source, bands, config.scale, config.fill, config.hr_gsd) as scene:
            here = (len(scene.bands), str(scene.dtype), str(source.hr_path))
        if seen and seen[:2] != here[:2]:
            raise DataError(
                f"{here[2]}: {here[0]} bands of {here[1]} but {seen[2]} has {seen[0]} of {seen[1]}; "
                "prepare scenes of one sensor together (or pick bands with --bands)"
            )
        seen = seen or here
    assert seen is not None
    if config.luminance and seen[0] != 3:
        raise DataError(f"{seen[2]}: --luminance needs RGB, this has {seen[0]} bands; pick 3 with --bands")
    return (1 if config.luminance else seen[0]), seen[1]


def _scene_pass(
    source: SceneSource, index: int, config: PrepareConfig, degradation: Degradation | None,
    stack: SceneStack, progress: Progress,
) -> _Collected:  # fmt: skip
    bands = list(config.bands) if config.bands else None
    with open_scene(source, bands, config.scale, config.fill, config.hr_gsd) as scene:
        info = {"crs": scene.grid.crs.to_string(), "lr_transform": tuple(scene.grid.transform)[:6]}
        out = _Collected(source, info)
        total = scene.count(config.tile, config.step)
        margin = degradation.margin if degradation else 0
        for n, cand in enumerate(scene.candidates(config.tile, config.step, config.valid_fraction, margin)):
            out.candidates += 1
            if n % 50 == 0 or n + 1 == total:
                progress(f"tiles: {source.name}", n + 1, total)  # one bar, naming the scene
            if cand is None:
                out.dropped["invalid"] += 1
                continue
            reason = _keep(cand, config, degradation, (config.seed, index, n), out.measured)
            if isinstance(reason, str):
                out.dropped[reason] += 1
                continue
            stack.append(*reason[:3])
            out.positions.append(
                TilePosition(source.name, int(cand.window.col_off), int(cand.window.row_off))
            )
            out.shifts.append(reason[3])
    return out


def _keep(
    cand: Candidate, config: PrepareConfig, degradation: Degradation | None,
    key: tuple[int, int, int], measured: list[float],
) -> str | tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:  # fmt: skip
    """A drop reason, or (lr, hr, valid LR samples, shift) of a kept tile."""
    if config.luminance:  # before any filter or degradation: the tile is grey from here on
        lr, ctx = cand.lr, cand.hr_context
        lr, ctx = (None if a is None else to_luminance(a) for a in (lr, ctx))
        cand = replace(cand, lr=lr, hr=to_luminance(cand.hr), hr_context=ctx)
    valid = cand.valid
    if config.min_std > 0 and max(float(b[valid].std()) for b in cand.hr) < config.min_std:
        return "uniform"
    shift = None
    if degradation is not None:
        assert cand.hr_context is not None
        lr = degrade(cand.hr_context, degradation, np.random.default_rng(key), degradation.margin)
    else:
        assert cand.lr is not None
        lr = cand.lr
        shift = estimate_shift(lr, cand.hr, config.scale)
        measured.append(shift)
        if shift > config.max_shift:
            return "misregistered"
    s = config.scale
    lr_valid = valid.reshape(lr.shape[1], s, lr.shape[2], s).all(axis=(1, 3))
    hr = np.where(valid, cand.hr, 0).astype(cand.hr.dtype)  # invalid pixels are 0 in both arrays
    lr = np.where(lr_valid, lr, 0).astype(lr.dtype)
    samples = lr[:, lr_valid][:, :: max(1, int(lr_valid.sum()) // 256)]  # for percentile normalisation
    return lr, hr, samples, shift


def _finish(
    stacks: list[SceneStack],
    splits: list[str],
    config: PrepareConfig,
    bands: int,
    dtype: str,
    progress: Progress,
) -> Normalisation:
    """Write the final stacks without buffer tiles; normalisation from the valid LR pixels of train tiles."""
    t, g, train = config.tile, 0, []
    shapes = ((bands, t, t), (bands, t * config.scale, t * config.scale))
    for n, stack in enumerate(stacks):
        mine, g = splits[g : g + stack.count], g + stack.count
        progress("write", n, len(stacks))
        stack.finish([s != BUFFER for s in mine], shapes)
        train += [x for x, s in zip(stack.samples, mine, strict=True) if s == "train"]
    progress("write", len(stacks), len(stacks))
    if np.dtype(dtype) == np.uint8:
        return Normalisation.for_dtype(dtype, bands)
    pool = train or [x for stack in stacks for x in stack.samples]  # no train tiles: an eval-only set
    return Normalisation.from_samples(dtype, np.concatenate(pool, axis=1))


def _manifest(
    collected: list[_Collected], splits: list[str], config: PrepareConfig, degradation: Degradation | None,
    bands: int, dtype: str,
) -> Manifest:  # fmt: skip
    """The manifest with final tile indexes (buffer tiles removed); normalisation filled in later."""
    scenes, tiles, g = [], [], 0
    for c in collected:
        index = 0
        for pos, shift in zip(c.positions, c.shifts, strict=True):
            split, g = splits[g], g + 1
            if split == BUFFER:
                continue
            t, tf = config.tile, c.reader_info["lr_transform"]
            left, top = tf[2] + pos.col * tf[0], tf[5] + pos.row * tf[4]
            right, bottom = left + t * tf[0], top + t * tf[4]
            bounds = (left, min(top, bottom), right, max(top, bottom))
            tiles.append(TileRecord(c.source.name, index, split, (pos.col, pos.row, t, t), bounds, shift))
            index += 1
        kind = "degraded" if c.source.lr_path is None else "pair"
        lr_source = str(c.source.lr_path) if c.source.lr_path else None
        scenes.append(SceneRecord(c.source.name, kind, str(c.source.hr_path), lr_source, c.reader_info["crs"],
                                  c.reader_info["lr_transform"], index))  # fmt: skip
    mode = "degrade" if degradation else "pairs"
    settings = {**asdict(config), "mode": mode, "split": asdict(config.split_spec())}
    if config.luminance:
        settings["luminance"] = LUMINANCE_NAME  # Rec. 601 luma of the RGB bands (satsr.luminance)
    report = {"scenes": [asdict(s) for s in _summaries(collected, splits)], "shift": shift_stats(collected)}
    return Manifest(__version__, config.scale, bands, dtype, config.tile, {}, scenes, tiles,
                    degradation.to_dict() if degradation else None, settings, report)  # fmt: skip


def _summaries(collected: list[_Collected], splits: list[str]) -> list[SceneSummary]:
    out, g = [], 0
    for c in collected:
        mine = splits[g : g + len(c.positions)]
        g += len(c.positions)
        kept = {s: mine.count(s) for s in ("train", "val", "test")}
        dropped = {**c.dropped, BUFFER: mine.count(BUFFER)}
        out.append(SceneSummary(c.source.name, "degraded" if c.source.lr_path is None else "pair",
                                c.candidates, kept, dropped))  # fmt: skip
    return out


def shift_stats(collected: list[_Collected]) -> dict[str, float]:
    """Distribution of the shifts measured on tiles that passed validity (kept or dropped for the shift)."""
    shifts = np.array([s for c in collected for s in c.measured], dtype=np.float64)
    if not shifts.size:
        return {"count": 0}
    return {"count": int(shifts.size), "median": float(np.median(shifts)),
            "p90": float(np.percentile(shifts, 90)), "max": float(shifts.max())}  # fmt: skip
