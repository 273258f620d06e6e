"""Streaming upscaling of GeoTIFF scenes by the weights' scale: windowed read, batched tiles, windowed write,
atomic output.

Memory is bounded by one batch of tiles plus a fixed GDAL block cache, whatever the scene size.
Validity (nodata value, internal mask, alpha band) is carried to the output pixel for pixel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader, DatasetWriter

from satsr.errors import SatsrError, UsageError
from satsr.inference import TileRunner, scene_softness
from satsr.normalise import Normalisation
from satsr.outputs import atomic_output
from satsr.precision import DEVICE_NAME, Precision, resolve_device, resolve_precision
from satsr.progress import Progress, silent
from satsr.radiometry import scene_normalisation
from satsr.raster import fill_invalid, gdal_env, open_raster, read_context, validity_mode, write_tile
from satsr.scene_check import check_scene
from satsr.sources import Source, is_virtual
from satsr.tiling import TileJob, core_of, plan_tiles, tile_count, upscale_mask
from satsr.upscale_output import add_overviews, copy_to_cog, describe_output, output_profile
from satsr.weights import LoadedWeights

TILES_TASK = "upscale tiles"  # progress task: tiles done of all tiles
PIXELS_TASK = "upscale output pixels"  # progress task: output pixels written (for MP/s)
SCENE_TASK = "upscale scene"  # progress task "upscale scene NAME[: stage]": scene k of n is running
# The reading and writing threads never call GDAL at the same time (its block cache is shared between the
# scene and the output); what overlaps is the model with I/O, and the numpy work on each side.
_GDAL = threading.Lock()


@dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale; the CLI flags map one to one onto these fields."""

    tile: int = 256  # LR pixels per tile side (a multiple of 64 keeps the 256 px output blocks whole)
    overlap: int | None = None  # LR context margin on each tile side; None = generator receptive radius
    batch_size: int | None = None  # tiles per model call; None = 1 on CPU (no gain there), 8 on CUDA
    bands: tuple[int, ...] | None = None  # 1-based input bands fed to the model; None = all but alpha
    device: str = "auto"  # auto (cuda when available) or a torch device name: cpu, cuda, cuda:1, mps
    precision: str = "auto"  # auto (bf16 where the device runs it natively), fp32 or bf16
    cog: bool = False  # write a Cloud-Optimized GeoTIFF with overviews
    overviews: bool = False  # add internal overviews to a plain GeoTIFF (a COG always has them)
    creation_options: tuple[tuple[str, str], ...] = ()  # GDAL creation options (--co KEY=VALUE), upper-case
    ignore_gsd: bool = False  # upscale scenes whose pixel size is not the weights' (with a warning)
    softness: float | None = None  # conditioned weights: input blur in HR px; None = estimated per scene
    self_ensemble: bool = False  # average the model over the 8 flips and rotations of each tile (8x slower)
    overwrite: bool = False  # replace an existing output

    def __post_init__(self) -> None:
        if self.tile < 8:
            raise UsageError(f"--tile {self.tile}: use at least 8 LR pixels (128 or 256 are good choices)")
        if self.overlap is not None and self.overlap < 0:
            raise UsageError(f"--overlap {self.overlap}: must be 0 or more LR pixels")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: must be at least 1")
        if not DEVICE_NAME.match(self.device):
            raise UsageError(f"--device {self.device}: choose auto, cpu, cuda, cuda:N (torch's names) or mps")
        resolve_precision(self.precision, "cpu")  # refuses unknown names early

    def resolved_precision(self) -> Precision:
        return resolve_precision(self.precision, resolve_device(self.device))


@dataclass(frozen=True)
class UpscaleResult:
    """What one upscaled scene produced."""

    src: Source  # input scene (a local path, or a URL / GDAL virtual path as given)
    dst: Path  # output raster (complete, renamed into place)
    lr_size: tuple[int, int]  # input (width, height) in pixels
    hr_size: tuple[int, int]  # output (width, height) in pixels
    tiles: int  # model tiles processed
    seconds: float  # wall time for the scene
    output_mp_per_s: float  # output megapixels per second
    precision: str  # how the model ran: fp32 or bf16 (with why, when auto chose it), self-ensembled or not
    notes: tuple[str, ...] = ()  # warnings for the user (e.g. a pixel size other than the weights')


@dataclass(frozen=True)
class BatchReport:
    """Outcome of upscaling several scenes: one failure does not stop the others."""

    results: list[UpscaleResult]  # scenes written
    failures: list[tuple[Source, str]]  # (scene, one-line reason) for scenes that failed


def upscale_file(
    src: Source, dst: Path, weights: LoadedWeights, options: UpscaleOptions = UpscaleOptions(),
    progress: Progress = silent,
) -> UpscaleResult:  # fmt: skip
    """Upscale one scene by the weights' scale into `dst` (written under a temporary name, renamed when
    complete).

    `src` is a local path, a URL or any GDAL virtual path (/vsicurl/, /vsis3/, VRT ...). The weights'
    generator is moved to the chosen device. Raises DataError for unusable input, OutputExistsError when
    `dst` exists without `options.overwrite`.
    """
    src, dst = (src if is_virtual(src) else Path(src)), Path(dst)
    if isinstance(src, Path) and dst.resolve() == src.resolve():
        raise UsageError(f"{dst}: the output would replace its input; choose another -o")
    start = time.perf_counter()
    env = gdal_env()
    precision = options.resolved_precision()
    with env, open_raster(src) as ds:
        bands, resolution, notes = check_scene(ds, weights, options.bands, options.ignore_gsd)
        norm, stretch = scene_normalisation(ds, bands, weights.normalisation, weights.metadata)
        job = _Job(ds, bands, weights, options, precision, resolution | stretch, norm)
        with atomic_output(dst, options.overwrite) as tmp:
            tiles = _write_cog(job, tmp, progress) if options.cog else _write_scene(job, tmp, progress)
            if options.overviews and not options.cog:
                progress(SCENE_TASK + ": overviews", 0, 1)
                add_overviews(tmp)
        lr_size = (ds.width, ds.height)
    seconds = time.perf_counter() - start
    hr_size = (lr_size[0] * weights.scale, lr_size[1] * weights.scale)
    mps = hr_size[0] * hr_size[1] / 1e6 / max(seconds, 1e-9)
    how = precision.describe() + (", self-ensemble of 8" if options.self_ensemble else "")
    return UpscaleResult(src, dst, lr_size, hr_size, tiles, seconds, mps, how, tuple(notes))


@dataclass(frozen=True)
class _Job:
    """One scene being upscaled: its reader, the bands fed to the model, how, and the resolution tags."""

    ds: DatasetReader
    bands: list[int]
    weights: LoadedWeights
    options: UpscaleOptions
    precision: Precision
    resolution: dict[str, Any]  # output tags: resolutions, and a per-scene stretch (satsr.radiometry)
    normalisation: Normalisation  # the weights', or a per-scene stretch for another dtype


def _write_scene(job: _Job, path: Path, progress: Progress, creation: bool = True) -> int:
    """Stream every tile of the scene through the model into a tiled, compressed GeoTIFF at `path`
    (`creation`: with the user's creation options; the COG's staging file is plain).

    Three stages overlap: a reading thread prepares batch k+1 (read, fill, normalise), the calling thread
    runs the model on batch k, a writing thread crops, encodes and compresses batch k-1 (GDAL and torch
    release the GIL). At most one batch waits at each stage, so memory stays bounded; the writes happen in
    plan order, so the file is byte-identical to a serial run's.
    """
    ds, bands, weights, options = job.ds, job.bands, job.weights, job.options
    margin = weights.generator.receptive_radius if options.overlap is None else options.overlap
    mode = validity_mode(ds)
    creation_options = options.creation_options if creation else ()
    profile = output_profile(ds, weights.scale, bands, mode == "alpha", creation_options)
    runner = TileRunner(weights.generator, job.normalisation, job.precision, options.self_ensemble)
    softness = scene_softness(ds, bands, runner, options.softness)
    tags = job.resolution | ({} if softness is None else {"SATSR_SOFTNESS": f"{softness:.3f}"})
    tags |= {"SATSR_SELF_ENSEMBLE": "8 orientations"} if options.self_ensemble else {}
    batch_size = options.batch_size or (8 if job.precision.device.type == "cuda" else 1)
    hr_total = profile["width"] * profile["height"]
    tally = _Tally(progress, tile_count(ds.width, ds.height, options.tile), hr_total)
    batches = _batched(plan_tiles(ds.width, ds.height, options.tile, margin), batch_size)
    with rasterio.open(path, "w", **profile) as dst, ThreadPoolExecutor(1) as reader, \
            ThreadPoolExecutor(1) as writer:  # fmt: skip
        describe_output(dst, ds, bands, mode, weights, job.precision, tags)
        reading = reader.submit(_read_batch, ds, next(batches, []), runner, bands)
        writing: Future[None] | None = None
        while (batch := reading.result()).jobs:
            reading = reader.submit(_read_batch, ds, next(batches, []), runner, bands)
            y = runner.infer(batch.x, [batch.jobs[i] for i in batch.todo]) if batch.x is not None else None
            if writing is not None:
                writing.result()  # one batch in flight per stage: memory stays bounded
            writing = writer.submit(_write_batch, dst, batch, y, runner, mode, tally)
        if writing is not None:
            writing.result()
    return tally.total


@dataclass
class _Tally:
    """Tiles and HR pixels written so far, reported as they are written (writing thread)."""

    progress: Progress
    total: int  # tiles in the scene
    hr_total: int  # output pixels in the scene
    done: int = 0
    hr_done: int = 0

    def add(self, tiles: int, hr_pixels: int) -> None:
        self.done, self.hr_done = self.done + tiles, self.hr_done + hr_pixels
        self.progress(TILES_TASK, self.done, self.total)
        self.progress(PIXELS_TASK, self.hr_done, self.hr_total)


@dataclass
class _Batch:
    """One batch between the pipeline's stages."""

    jobs: list[TileJob]
    reads: list[tuple[np.ndarray, np.ndarray]]  # (data, validity) of each job's context window
    todo: list[int]  # jobs with a valid pixel in their core: only these go through the model
    x: np.ndarray | None  # the model's float32 input for `todo`, None when there is none


def _read_batch(ds: DatasetReader, jobs: list[TileJob], runner: TileRunner, bands: list[int]) -> _Batch:
    """Read and prepare one batch for the model (reading thread)."""
    with _GDAL:
        reads = [read_context(ds, job.context, bands) for job in jobs]
    todo = [i for i, job in enumerate(jobs) if core_of(reads[i][1], job).any()]
    x = runner.to_model([fill_invalid(*reads[i]) for i in todo]) if todo else None
    return _Batch(jobs, reads, todo, x)


def _write_batch(
    dst: DatasetWriter, batch: _Batch, y: np.ndarray | None, runner: TileRunner, mode: str, tally: _Tally
) -> None:
    """Write one batch's HR cores, marking invalid pixels (writing thread)."""
    outputs = runner.from_model([batch.jobs[i] for i in batch.todo], y) if y is not None else []
    by_index = dict(zip(batch.todo, outputs, strict=True))
    written = 0
    for i, job in enumerate(batch.jobs):
        data, valid = batch.reads[i]
        hr_valid = upscale_mask(core_of(valid, job), runner.scale)
        hr = by_index.get(i)
        if hr is None:
            hr = np.zeros((data.shape[0], *hr_valid.shape), dtype=data.dtype)
        with _GDAL:
            write_tile(dst, job, hr, hr_valid, mode, dst.nodata, runner.scale)
        written += hr_valid.size
    tally.add(len(batch.jobs), written)


def _write_cog(job: _Job, path: Path, progress: Progress) -> int:
    """Stream into a plain tiled GeoTIFF beside `path`, then let GDAL's COG driver add overviews."""
    staging = path.with_name(f"{path.name}.gtiff.tmp")
    try:
        tiles = _write_scene(job, staging, progress, creation=False)
        progress(SCENE_TASK + ": COG overviews", 0, 1)
        copy_to_cog(staging, path, job.options.creation_options)
    finally:
        staging.unlink(missing_ok=True)
    return tiles


def _batched(jobs: Iterator[TileJob], size: int) -> Iterator[list[TileJob]]:
    while batch := list(islice(jobs, size)):
        yield batch


def upscale_many(
    pairs: list[tuple[Source, Path]], weights: LoadedWeights, options: UpscaleOptions = UpscaleOptions(),
    progress: Progress = silent,
) -> BatchReport:  # fmt: skip
    """Upscale (src, dst) pairs with one progress over all tiles; failures are collected, not raised.

    Before each scene, task "upscale scene NAME" reports scene k of n (a finishing stage is reported as
    "upscale scene NAME: STAGE"). The unwritten tiles of a failed scene leave the total (a scene refused
    at once shows 0/0, not a full bar; the others still end full); its pixels do not count (MP/s stays true).
    """
    sizes = [_scene_size(src) for src, _ in pairs]
    tiles = [tile_count(w, h, options.tile) if w else 0 for w, h in sizes]
    grand = {TILES_TASK: sum(tiles), PIXELS_TASK: sum(w * h * weights.scale**2 for w, h in sizes)}
    base = dict.fromkeys(grand, 0)
    results: list[UpscaleResult] = []
    failures: list[tuple[Source, str]] = []
    for k, (src, dst) in enumerate(pairs):
        label = f"{SCENE_TASK} {str(src).rstrip('/').rsplit('/', 1)[-1]}"

        written = {TILES_TASK: 0}

        def report(task: str, done: int, total: int, label: str = label, k: int = k,
                   written: dict[str, int] = written) -> None:  # fmt: skip
            if task.startswith(SCENE_TASK):  # a finishing stage of this scene
                progress(label + task[len(SCENE_TASK) :], k, len(pairs))
            else:
                written[task] = done
                progress(task, base.get(task, 0) + done, grand.get(task, total))

        progress(label, k, len(pairs))
        try:
            results.append(upscale_file(src, dst, weights, options, report))
            base[PIXELS_TASK] += results[-1].hr_size[0] * results[-1].hr_size[1]
        except (SatsrError, RasterioError, OSError) as exc:
            failures.append((src, _one_line(exc)))
            grand[TILES_TASK] -= tiles[k] - written[TILES_TASK]  # its unwritten tiles leave the total
            tiles[k] = written[TILES_TASK]
        base[TILES_TASK] += tiles[k]
        progress(TILES_TASK, base[TILES_TASK], grand[TILES_TASK])
    return BatchReport(results, failures)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _scene_size(src: Source) -> tuple[int, int]:
    """(width, height) for progress totals; (0, 0) when unreadable (the scene's own run reports why)."""
    try:
        with open_raster(src, georeferenced=False) as ds:
            return ds.width, ds.height
    except (SatsrError, RasterioError, OSError):
        return 0, 0
