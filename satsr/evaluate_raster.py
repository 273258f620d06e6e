"""`satsr evaluate` on rasters: an upscaled raster vs a reference on the same grid, streamed window by window.

`evaluate_rasters` scores an existing SR GeoTIFF; `evaluate_model_on_pair` computes the SR of each window
from the LR with the tile runner `satsr upscale` uses (`inference.ModelWindows`: context margin, mirrored
scene edges, nearest-valid fill; nothing written to disk), with the HR read on the LR's exact scale-x
grid (`align.aligned_hr`, as prepare aligns pairs). Memory is bounded by one window
(`EvaluateOptions.window` HR px a side) whatever the scene size. Baselines, when the LR is given, are
computed per window on the same pixels: bicubic on the LR read with reflection beyond the scene and
invalid pixels filled from the nearest valid one (exactly how upscale feeds the model), and GDAL lanczos
of the LR window with context (baselines.lanczos: the pixels of `gdalwarp -r lanczos` on the scene). The
shave removes `shave` HR px along the scene edges (no tile edges here: the SR is seam-free).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from satsr.errors import DataError, GeoMismatchError, UsageError
from satsr.metrics import METRICS, Sample, Scorer
from satsr.normalise import Normalisation
from satsr.progress import Progress, silent
from satsr.report import (
    DEFAULTS,
    EvaluateOptions,
    EvaluationReport,
    centre_crop,
    common_settings,
    data_range_for,
    figure_indexes,
    model_precision,
    weights_summary,
)
from satsr.sources import is_virtual
from satsr.tiling import covering_tiles, upscale_mask

LANCZOS_MARGIN = 4  # LR px of context around a window for lanczos: its kernel reaches 3 LR px


def evaluate_model_on_pair(
    model: str | Path, lr: str | Path, hr: str | Path, options: EvaluateOptions = DEFAULTS,
    progress: Progress = silent,
) -> EvaluationReport:  # fmt: skip
    """Score `model` on the LR/HR pair: the SR of each window streams from the LR through the tile runner
    `satsr upscale` uses (inference.ModelWindows; nothing is written to disk)."""
    from satsr.inference import ModelWindows, TileRunner, scene_softness
    from satsr.radiometry import scene_normalisation
    from satsr.scene_check import check_scene
    from satsr.weights import load_weights

    start = time.perf_counter()
    loaded = load_weights(model)
    precision = model_precision(options)
    notes: list[str] = []

    def upscaled(lr_src: Any) -> ModelWindows:
        # scoring a model on imagery of another pixel size is a fair question: noted, not refused
        bands, _, found = check_scene(lr_src, loaded, None, ignore_gsd=True)
        notes.extend(found)
        norm, _ = scene_normalisation(lr_src, bands, loaded.normalisation, loaded.metadata)  # as upscale does
        runner = TileRunner(loaded.generator, norm, precision, options.self_ensemble)
        scene_softness(lr_src, bands, runner, options.softness)
        return ModelWindows(lr_src, bands, runner, loaded.generator.receptive_radius)

    report = _evaluate(upscaled, hr, lr, options, progress, loaded.normalisation)
    settings = {**report.settings, "model": weights_summary(loaded), "precision": precision.describe(),
                "self_ensemble": options.self_ensemble,
                "sr": "streamed from the LR through upscale's tile runner", "notes": notes}  # fmt: skip
    seconds = time.perf_counter() - start
    return EvaluationReport("model-raster", settings, report.scores, report.counts, seconds, report.crops,
                            report.display_norm)  # fmt: skip


def evaluate_rasters(
    sr: str | Path, hr: str | Path | None, lr: str | Path | None, options: EvaluateOptions = DEFAULTS,
    progress: Progress = silent,
) -> EvaluationReport:  # fmt: skip
    """Score the SR raster against `hr` (same grid) and/or `lr` (LR-consistency, baselines)."""
    return _evaluate(sr, hr, lr, options, progress)


def _evaluate(
    sr: str | Path | Callable[[Any], Any], hr: str | Path | None, lr: str | Path | None,
    options: EvaluateOptions, progress: Progress, norm: Normalisation | None = None,
) -> EvaluationReport:  # fmt: skip
    """Both raster modes: `sr` is a raster, or makes the model's SR reader from the opened LR (the HR is
    then read on the LR's exact scale-x grid through `align.aligned_hr`, as prepare aligns pairs)."""
    from satsr.align import aligned_hr, check_pair
    from satsr.raster import data_band_indexes, gdal_env, open_raster

    start = time.perf_counter()
    if hr is None:  # without ground truth only the no-reference metrics make sense
        options = replace(options, metrics=no_reference(options.metrics))
    align_hr = callable(sr)
    with ExitStack() as stack:
        stack.enter_context(gdal_env())
        lr_src = stack.enter_context(open_raster(lr)) if lr is not None else None
        sr_src = sr(lr_src) if callable(sr) else stack.enter_context(open_raster(sr))
        bands = sr_src.bands if callable(sr) else data_band_indexes(sr_src)
        srcs: dict[str, Any] = {"sr": sr_src}
        scale = None  # HR px per LR px: known with an LR
        if lr_src is not None:
            srcs["lr"] = lr_src
            if align_hr:  # the model's SR is on the LR's scale-x grid by construction
                scale = sr_src.runner.scale
            else:
                scale = max(round(sr_src.width / lr_src.width), 1)
                check_lr_grid(sr_src, lr_src, scale)
        if hr is not None:
            hr_src = stack.enter_context(open_raster(hr))
            if align_hr and scale is not None:
                check_pair(srcs["lr"], hr_src, scale)  # same place, scale x finer: else nothing to score
                srcs["hr"] = stack.enter_context(aligned_hr(srcs["lr"], hr_src, scale))
            else:
                check_same_grid(sr_src, hr_src)
                srcs["hr"] = hr_src
        for name, src in srcs.items():
            check_bands(sr_src, bands, src, name)
        dtype = sr_src.dtypes[bands[0] - 1]
        data_range = data_range_for(dtype, norm, options.data_range, str(sr_src.name))
        norm = norm or _identity_norm(dtype, len(bands))
        scorers, counts, crops = _stream(srcs, bands, norm, data_range, options, progress, scale or 1)
    if not counts["scored_pixels_per_band"]:
        raise DataError(f"{sr_src.name}: no pixel is valid in every raster given (after a {options.shave} px "
                        "shave); give rasters that cover the same ground with valid pixels")  # fmt: skip
    settings = {
        "sr": None if callable(sr) else _resolved(sr), "hr": _resolved(hr), "lr": _resolved(lr),
        "hr_alignment": f"aligned_hr onto the LR {scale}x grid" if align_hr else "same grid as SR (checked)",
        "window_hr_px": options.window, **common_settings(options, data_range, dtype, scale),
    }  # fmt: skip
    scores = {m: s.results() for m, s in scorers.items()}
    return EvaluationReport("raster", settings, scores, counts, time.perf_counter() - start, crops, norm)


def no_reference(names: tuple[str, ...]) -> tuple[str, ...]:
    """The requested metrics that need no HR; a usage error when none is left."""
    kept = tuple(n for n in names if not METRICS[n].needs_hr)
    if not kept:
        free = ", ".join(n for n, m in METRICS.items() if not m.needs_hr)
        raise UsageError(f"--metrics {','.join(names)}: all need --hr; without a reference use {free}")
    return kept


def _resolved(path: str | Path | None) -> str | None:
    """A local file's absolute path; a URL or /vsi path as given."""
    return None if path is None else str(path) if is_virtual(path) else str(Path(path).resolve())


def _identity_norm(dtype: str, bands: int) -> Normalisation:
    """Without a model, bicubic runs on the native values scaled by the dtype range (float: as is)."""
    if np.issubdtype(np.dtype(dtype), np.integer):
        return Normalisation.for_dtype(dtype, bands)
    return Normalisation(dtype, (0.0,) * bands, (1.0,) * bands)


def check_same_grid(sr_src: Any, hr_src: Any) -> None:
    """SR and reference must share CRS, size and transform (`align.grids_match`)."""
    from satsr.align import grids_match

    t, u = sr_src.transform, hr_src.transform
    sr_size, hr_size = (sr_src.width, sr_src.height), (hr_src.width, hr_src.height)
    if not grids_match(sr_src.crs, t, sr_size, hr_src.crs, u, hr_size):
        raise GeoMismatchError(
            f"{hr_src.name}: not on the grid of {sr_src.name} ({hr_src.width}x{hr_src.height} {hr_src.crs} "
            f"{tuple(u)[:6]} vs {sr_src.width}x{sr_src.height} {sr_src.crs} {tuple(t)[:6]}); warp it onto "
            "the SR grid first, or give the model with --lr/--hr to align the pair by georeference"
        )


def check_lr_grid(sr_src: Any, lr_src: Any, scale: int) -> None:
    """The SR must be the exact scale-x refinement of the LR grid (what `satsr upscale` writes)."""
    from satsr.align import grids_match, refined_grid

    u, width, height = refined_grid(lr_src, scale)
    sr_size = (sr_src.width, sr_src.height)
    if not grids_match(sr_src.crs, sr_src.transform, sr_size, lr_src.crs, u, (width, height)):
        raise GeoMismatchError(
            f"{lr_src.name}: {sr_src.name} is not its {scale}x upscale (grid "
            f"{sr_src.width}x{sr_src.height} vs "
            f"{scale}x {lr_src.width}x{lr_src.height}, or another origin/CRS); give the LR the SR was made "
            "from"
        )


def check_bands(sr_src: Any, bands: list[int], src: Any, name: str) -> None:
    if src.count < max(bands) or src.dtypes[bands[0] - 1] != sr_src.dtypes[bands[0] - 1]:
        raise DataError(f"{src.name}: --{name} needs {len(bands)} {sr_src.dtypes[bands[0] - 1]} bands like "
                        f"{sr_src.name}; give rasters with the same bands and dtype")  # fmt: skip


def _stream(
    srcs: dict[str, Any], bands: list[int], norm: Normalisation, data_range: float, options: EvaluateOptions,
    progress: Progress, scale: int,
) -> tuple[dict[str, Scorer], dict[str, int], list[dict[str, np.ndarray]]]:  # fmt: skip
    """Score every window; keep a bounded, evenly thinned list of fully valid figure crops."""
    sr_src = srcs["sr"]
    methods = ("sr", "bicubic", "lanczos") if "lr" in srcs else ("sr",)
    scorers = {m: Scorer(options.metrics, len(bands), data_range) for m in methods}
    size = options.window - options.window % scale or scale  # windows stay aligned with LR pixels
    windows = list(covering_tiles(sr_src.width, sr_src.height, size))
    crops: list[dict[str, np.ndarray]] = []
    stride = 1  # keep every `stride`-th candidate crop; doubled whenever the list grows too long
    candidates = scored = 0
    for done, win in enumerate(windows, start=1):
        samples, crop = _window_samples(srcs, win, bands, norm, options, scale)
        for method, sample in samples.items():
            scorers[method].update(sample)
        scored += int(samples["sr"].scored.sum())
        if crop is not None:
            if candidates % stride == 0:
                crops.append(crop)
            candidates += 1
            if len(crops) > 4 * max(options.figure_tiles, 1):
                crops, stride = crops[::2], stride * 2
        progress("evaluate windows", done, len(windows))
    counts = {"windows": len(windows), "scored_pixels_per_band": scored, "figure_candidates": candidates}
    return scorers, counts, _evenly(crops, options.figure_tiles)


def _evenly(items: list[Any], wanted: int) -> list[Any]:
    return [items[i] for i in sorted(figure_indexes(len(items), wanted))]


def _window_samples(
    srcs: dict[str, Any], win: Window, bands: list[int], norm: Normalisation, options: EvaluateOptions,
    scale: int,
) -> tuple[dict[str, Sample], dict[str, np.ndarray] | None]:  # fmt: skip
    """Samples of every method on one HR window, and its figure crop when the crop is fully scored."""
    from satsr.raster import read_window

    sr_src = srcs["sr"]
    sr, valid = sr_src.read_window(win) if hasattr(sr_src, "runner") else read_window(sr_src, win, bands)
    hr = None
    if "hr" in srcs:
        hr, hr_valid = read_window(srcs["hr"], win, bands)
        valid &= hr_valid
    outputs = {"sr": sr}
    lr = lr_scored = None
    if "lr" in srcs:
        lr_win = Window(win.col_off // scale, win.row_off // scale, win.width // scale, win.height // scale)
        lr, lr_valid = read_window(srcs["lr"], lr_win, bands)
        valid &= upscale_mask(lr_valid, scale)
        lr_scored = lr_valid & _inside_shave(srcs["lr"], lr_win, math.ceil(options.shave / scale))
        outputs["bicubic"] = _bicubic_window(srcs["lr"], lr_win, bands, norm, scale)
        outputs["lanczos"] = _lanczos_window(srcs["lr"], lr_win, bands, scale)
    scored = valid & _inside_shave(srcs["sr"], win, options.shave)
    f64 = {m: o.astype(np.float64) for m, o in outputs.items()}
    hr64 = None if hr is None else hr.astype(np.float64)
    lr64 = None if lr is None else lr.astype(np.float64)
    origin = ("raster", int(win.row_off), int(win.col_off))  # where the window lies (realism's places)
    samples = {m: Sample(o, hr64, valid, scored, lr64, lr_scored, origin) for m, o in f64.items()}
    return samples, _crop(outputs, hr, lr, scored, options.figure_crop, scale)


def _inside_shave(src: Any, win: Window, shave: int) -> np.ndarray:
    """(H, W) True for window pixels at least `shave` px inside the scene edges."""
    rows = np.arange(win.row_off, win.row_off + win.height)
    cols = np.arange(win.col_off, win.col_off + win.width)
    r_ok = (rows >= shave) & (rows < src.height - shave)
    c_ok = (cols >= shave) & (cols < src.width - shave)
    return r_ok[:, None] & c_ok[None, :]


def _bicubic_window(
    lr_src: Any, lr_win: Window, bands: list[int], norm: Normalisation, scale: int
) -> np.ndarray:
    """Bicubic of the LR window, with 2 LR px of context read as upscale reads it (reflect, nearest fill)."""
    from satsr.baselines import bicubic
    from satsr.raster import fill_invalid, read_context
    from satsr.tiling import with_margin

    margin = 2  # bicubic support in LR px
    data, valid = read_context(lr_src, with_margin(lr_win, margin), bands)
    up = bicubic(fill_invalid(data, valid)[None], norm, scale)[0]
    m = margin * scale
    return up[:, m : up.shape[1] - m, m : up.shape[2] - m]


def _lanczos_window(lr_src: Any, lr_win: Window, bands: list[int], scale: int) -> np.ndarray:
    """GDAL lanczos (`baselines.lanczos`) of the LR window from the scene pixels within LANCZOS_MARGIN LR
    px of it; masked pixels are left out of the kernel, so the result is `gdalwarp -r lanczos` of the
    whole scene, window by window (tested equal)."""
    from satsr.baselines import lanczos
    from satsr.raster import read_window
    from satsr.tiling import clip, with_margin

    context = clip(with_margin(lr_win, LANCZOS_MARGIN), lr_src.width, lr_src.height)
    assert context is not None, "a window of the scene overlaps the scene"
    data, valid = read_window(lr_src, context, bands)
    placed = (int(lr_win.col_off - context.col_off), int(lr_win.row_off - context.row_off))
    return lanczos(data, scale, valid, (*placed, int(lr_win.width), int(lr_win.height)))


def _crop(
    outputs: dict[str, np.ndarray], hr: np.ndarray | None, lr: np.ndarray | None, scored: np.ndarray,
    size: int, scale: int,
) -> dict[str, np.ndarray] | None:  # fmt: skip
    """Figure crop (window centre) when every method exists and the crop is wholly scored."""
    if hr is None or lr is None or min(scored.shape) < size or not centre_crop(scored, size).all():
        return None
    crop = {name: centre_crop(img, size).copy() for name, img in outputs.items()}
    crop["HR"], crop["LR"] = centre_crop(hr, size).copy(), centre_crop(lr, size // scale).copy()
    return crop
