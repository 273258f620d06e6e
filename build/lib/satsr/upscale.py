"""Streaming 4x upscaling of GeoTIFF scenes: windowed read, batched tiles, windowed write, atomic output.

Memory is bounded by one batch of tiles plus a fixed GDAL block cache, whatever the scene size.
Validity (nodata value, internal mask, alpha band) is carried to the output pixel for pixel.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
import torch
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader, DatasetWriter

from satsr import SCALE, __version__
from satsr.errors import DataError, SatsrError, UsageError
from satsr.inference import (
    TileJob,
    TileRunner,
    core_of,
    fill_invalid,
    plan_tiles,
    read_context,
    tile_count,
    upscale_mask,
    validity_mode,
    write_tile,
)  # fmt: skip
from satsr.precision import Precision, resolve_precision
from satsr.progress import Progress, silent
from satsr.raster import atomic_output, open_raster, select_bands, upscaled_profile
from satsr.weights import LoadedWeights

TILES_TASK = "upscale tiles"  # progress task: tiles done of all tiles
PIXELS_TASK = "upscale output pixels"  # progress task: output pixels written (for MP/s)
GDAL_CACHE_MB = 128  # GDAL block cache while writing: fixed, so memory does not grow with the scene


@dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale; the CLI flags map one to one onto these fields."""

    tile: int = 256  # LR pixels per tile side (a multiple of 64 keeps the 256 px output blocks whole)
    overlap: int | None = None  # LR context margin on each tile side; None = generator receptive radius
    batch_size: int | None = None  # tiles per model call; None = 1 on CPU (no gain there), 8 on CUDA
    bands: tuple[int, ...] | None = None  # 1-based input bands fed to the model; None = all but alpha
    device: str = "auto"  # auto (cuda when available), cpu or cuda
    precision: str = "auto"  # auto (bf16 where the device runs it natively), fp32 or bf16
    cog: bool = False  # write a Cloud-Optimized GeoTIFF with overviews
    overwrite: bool = False  # replace an existing output

    def __post_init__(self) -> None:
        if self.tile < 8:
            raise UsageError(f"--tile {self.tile}: use at least 8 LR pixels (128 or 256 are good choices)")
        if self.overlap is not None and self.overlap < 0:
            raise UsageError(f"--overlap {self.overlap}: must be 0 or more LR pixels")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"--device {self.device}: choose auto, cpu or cuda")
        resolve_precision(self.precision, "cpu")  # refuses unknown names early

    def resolved_precision(self) -> Precision:
        return resolve_precision(self.precision, resolve_device(self.device))


@dataclass(frozen=True)
class UpscaleResult:
    """What one upscaled scene produced."""

    src: Path  # input scene
    dst: Path  # output raster (complete, renamed into place)
    lr_size: tuple[int, int]  # input (width, height) in pixels
    hr_size: tuple[int, int]  # output (width, height) in pixels
    tiles: int  # model tiles processed
    seconds: float  # wall time for the scene
    output_mp_per_s: float  # output megapixels per second
    precision: str  # what ran the model: fp32 or bf16 (with why, when auto chose it)


@dataclass(frozen=True)
class BatchReport:
    """Outcome of upscaling several scenes: one failure does not stop the others."""

    results: list[UpscaleResult]  # scenes written
    failures: list[tuple[Path, str]]  # (scene, one-line reason) for scenes that failed


def upscale_file(
    src: Path, dst: Path, weights: LoadedWeights, options: UpscaleOptions = UpscaleOptions(),
    progress: Progress = silent,
) -> UpscaleResult:  # fmt: skip
    """Upscale one scene 4x into `dst` (written under a temporary name, renamed when complete).

    The weights' generator is moved to the chosen device. Raises DataError for unusable input,
    OutputExistsError when `dst` exists without `options.overwrite`.
    """
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise UsageError(f"{dst}: the output would replace its input; choose another -o")
    start = time.perf_counter()
    env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=GDAL_CACHE_MB)
    precision = options.resolved_precision()
    with env, open_raster(src) as ds:
        bands = check_scene(ds, weights, options)
        with atomic_output(dst, options.overwrite) as tmp:
            write = _write_cog if options.cog else _write_scene
            tiles = write(ds, tmp, bands, weights, options, precision, progress)
        lr_size = (ds.width, ds.height)
    seconds = time.perf_counter() - start
    hr_size = (lr_size[0] * SCALE, lr_size[1] * SCALE)
    mps = hr_size[0] * hr_size[1] / 1e6 / max(seconds, 1e-9)
    return UpscaleResult(src, dst, lr_size, hr_size, tiles, seconds, mps, precision.describe())


def check_scene(ds: DatasetReader, weights: LoadedWeights, options: UpscaleOptions) -> list[int]:
    """The bands to feed the model, after refusing a scene the weights cannot take."""
    bands = select_bands(ds, list(options.bands) if options.bands else None)
    expected, name = weights.generator.spec.bands, weights.path.name
    if len(bands) != expected:
        example = ",".join(str(b) for b in range(1, expected + 1))
        raise DataError(
            f"{ds.name}: the weights {name} take {expected} bands but {len(bands)} are selected {bands}; "
            f"choose {expected} with --bands (e.g. --bands {example})"
        )
    dtypes = {ds.dtypes[b - 1] for b in bands}
    trained = weights.normalisation.dtype
    if dtypes != {trained}:
        # no silent rescale: an 11-bit scene in uint16 is not a 16-bit one; only the user knows its range
        raise DataError(
            f"{ds.name}: pixels are {'/'.join(sorted(dtypes))} but the weights {name} were trained on "
            f"{trained} imagery; convert the scene to {trained} (e.g. rio convert --dtype {trained} "
            f"--scale-ratio ...) or pass --weights trained on {'/'.join(sorted(dtypes))} scenes"
        )
    return bands


def _write_scene(
    ds: DatasetReader, path: Path, bands: list[int], weights: LoadedWeights, options: UpscaleOptions,
    precision: Precision, progress: Progress,
) -> int:  # fmt: skip
    """Stream every tile of `ds` through the model into a tiled, compressed GeoTIFF at `path`.

    Three stages overlap: a reading thread prepares batch k+1 (read, fill, normalise), the calling thread
    runs the model on batch k, a writing thread crops, encodes and compresses batch k-1 (GDAL and torch
    release the GIL). At most one batch waits at each stage, so memory stays bounded; the writes happen in
    plan order, so the file is byte-identical to a serial run's.
    """
    margin = weights.generator.receptive_radius if options.overlap is None else options.overlap
    mode = validity_mode(ds)
    profile = upscaled_profile(ds, SCALE, bands)
    profile["count"] += mode == "alpha"
    runner = TileRunner(weights.generator, weights.normalisation, precision)
    batch_size = options.batch_size or (8 if precision.device.type == "cuda" else 1)
    hr_total = profile["width"] * profile["height"]
    tally = _Tally(progress, tile_count(ds.width, ds.height, options.tile), hr_total)
    batches = _batched(plan_tiles(ds.width, ds.height, options.tile, margin), batch_size)
    with rasterio.open(path, "w", **profile) as dst, ThreadPoolExecutor(1) as reader, \
            ThreadPoolExecutor(1) as writer:  # fmt: skip
        describe_output(dst, ds, bands, mode, weights, precision)
        reading = reader.submit(_read_batch, ds, next(batches, []), runner, bands)
        writing: Future[None] | None = None
        while (batch := reading.result()).jobs:
            reading = reader.submit(_read_batch, ds, next(batches, []), runner, bands)
            y = runner.infer(batch.x) if batch.x is not None else None
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
        hr_valid = upscale_mask(core_of(valid, job))
        hr = by_index.get(i)
        if hr is None:
            hr = np.zeros((data.shape[0], *hr_valid.shape), dtype=data.dtype)
        write_tile(dst, job, hr, hr_valid, mode, dst.nodata)
        written += hr_valid.size
    tally.add(len(batch.jobs), written)


def describe_output(
    dst: DatasetWriter, ds: DatasetReader, bands: list[int], mode: str, weights: LoadedWeights,
    precision: Precision,
) -> None:
    """Copy colour interpretation, descriptions and tags; add provenance tags."""
    dst.colorinterp = [ds.colorinterp[b - 1] for b in bands] + (
        [ColorInterp.alpha] if mode == "alpha" else []
    )
    for i, b in enumerate(bands, start=1):
        if ds.descriptions[b - 1]:
            dst.set_band_description(i, ds.descriptions[b - 1])
        dst.update_tags(i, **ds.tags(b))
    dst.update_tags(**ds.tags(), **provenance_tags(weights), SATSR_PRECISION=precision.name)


def provenance_tags(weights: LoadedWeights) -> dict[str, Any]:
    """Which weights made the pixels, and how."""
    return {
        "SATSR_WEIGHTS": weights.path.name,
        "SATSR_WEIGHTS_SHA256": _sha256(weights.path.resolve(), weights.path.stat().st_mtime_ns),
        "SATSR_VERSION": __version__,
        "SATSR_SCALE": SCALE,
    }


@lru_cache(maxsize=8)
def _sha256(path: Path, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_cog(
    ds: DatasetReader, path: Path, bands: list[int], weights: LoadedWeights, options: UpscaleOptions,
    precision: Precision, progress: Progress,
) -> int:  # fmt: skip
    """Stream into a plain tiled GeoTIFF beside `path`, then let GDAL's COG driver add overviews."""
    staging = path.with_name(f"{path.name}.gtiff.tmp")
    try:
        tiles = _write_scene(ds, staging, bands, weights, options, precision, progress)
        rasterio.shutil.copy(
            staging, path, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES", BLOCKSIZE=256,
            BIGTIFF="IF_SAFER", OVERVIEWS="AUTO", OVERVIEW_RESAMPLING="AVERAGE",
        )  # fmt: skip
    finally:
        staging.unlink(missing_ok=True)
    return tiles


def resolve_device(name: str) -> str:
    """auto -> cuda when torch sees a GPU, else cpu; an unavailable cuda is a clear error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA device; use --device cpu or auto")
    return name


def _batched(jobs: Iterator[TileJob], size: int) -> Iterator[list[TileJob]]:
    while batch := list(islice(jobs, size)):
        yield batch


def upscale_many(
    pairs: list[tuple[Path, Path]], weights: LoadedWeights, options: UpscaleOptions = UpscaleOptions(),
    progress: Progress = silent,
) -> BatchReport:  # fmt: skip
    """Upscale (src, dst) pairs with one progress over all tiles; failures are collected, not raised.

    Tiles of a failed scene count as done (the bar still ends full); its pixels do not (MP/s stays true).
    """
    sizes = [_scene_size(src) for src, _ in pairs]
    tiles = [tile_count(w, h, options.tile) if w else 0 for w, h in sizes]
    grand = {TILES_TASK: sum(tiles), PIXELS_TASK: sum(w * h * SCALE * SCALE for w, h in sizes)}
    base = dict.fromkeys(grand, 0)
    results: list[UpscaleResult] = []
    failures: list[tuple[Path, str]] = []
    for k, (src, dst) in enumerate(pairs):

        def report(task: str, done: int, total: int) -> None:
            progress(task, base.get(task, 0) + done, grand.get(task, total))

        try:
            results.append(upscale_file(src, dst, weights, options, report))
            base[PIXELS_TASK] += results[-1].hr_size[0] * results[-1].hr_size[1]
        except (SatsrError, RasterioError, OSError) as exc:
            failures.append((src, _one_line(exc)))
        base[TILES_TASK] += tiles[k]
        progress(TILES_TASK, base[TILES_TASK], grand[TILES_TASK])
    return BatchReport(results, failures)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _scene_size(src: Path) -> tuple[int, int]:
    """(width, height) for progress totals; (0, 0) when unreadable (the scene's own run reports why)."""
    try:
        with open_raster(src, georeferenced=False) as ds:
            return ds.width, ds.height
    except (SatsrError, RasterioError, OSError):
        return 0, 0
