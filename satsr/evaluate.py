"""`satsr evaluate` on a prepared split: the model beside bicubic and lanczos, tile by tile.

Dataset mode runs the generator on each whole tile of the split, in batches, with no context beyond
the tile (as `upscale` would treat an isolated tile); `shave` HR pixels along every tile edge are left
out of every score, for the model and the baselines alike. Raster modes live in evaluate_raster.py; the
options, report and settings all modes share in report.py (re-exported: `satsr.evaluate.EvaluateOptions`).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satsr.errors import DataError, WeightsError
from satsr.metrics import Sample, Scorer
from satsr.normalise import Normalisation
from satsr.progress import Progress, silent
from satsr.report import (  # noqa: F401  (EvaluateOptions, DEFAULTS, write_json, report_json: re-exported)
    DEFAULTS,
    METHODS,
    EvaluateOptions,
    EvaluationReport,
    common_settings,
    data_range_for,
    figure_crops,
    figure_indexes,
    interior,
    model_precision,
    report_json,
    weights_summary,
    write_json,
)
from satsr.tiling import downscale_mask

if TYPE_CHECKING:
    from satsr.precision import Precision


def tile_samples(
    lr: np.ndarray, hr: np.ndarray, outputs: dict[str, np.ndarray], shave: int, valid: np.ndarray,
    origin: tuple[str, int, int] | None = None,
) -> dict[str, Sample]:  # fmt: skip
    """One Sample per method for a (C, h, w) / (C, H, W) tile pair with its (H, W) HR validity; `origin`
    (scene, HR row, HR col) places it on its scene (set-level metrics split by place)."""
    scale = hr.shape[1] // lr.shape[1]
    scored = interior(hr.shape[1], hr.shape[2], shave) & valid
    lr_valid = downscale_mask(valid, scale)
    lr_scored = interior(lr.shape[1], lr.shape[2], math.ceil(shave / scale)) & lr_valid
    hr64, lr64 = hr.astype(np.float64), lr.astype(np.float64)
    return {
        m: Sample(out.astype(np.float64), hr64, valid, scored, lr64, lr_scored, origin)
        for m, out in outputs.items()
    }


def evaluate_dataset(
    model: str | Path, dataset: str | Path, options: EvaluateOptions = DEFAULTS,
    progress: Progress = silent,
) -> EvaluationReport:  # fmt: skip
    """Run `model` on the tiles of one split of a prepared dataset and score it beside the baselines."""
    from satsr.inference import SelfEnsemble, set_softness
    from satsr.manifest import check_arrays, load_manifest, open_scene
    from satsr.weights import load_weights

    start = time.perf_counter()
    manifest = load_manifest(dataset)
    check_arrays(dataset, manifest)
    tiles = manifest.split(options.split)
    if not tiles:
        counts = {s: len(manifest.split(s)) for s in ("train", "val", "test")}
        raise DataError(f"{dataset}: split {options.split!r} has no tiles ({counts}); choose another --split")
    loaded = load_weights(model)
    set_softness(loaded.generator, options.softness)
    generator = SelfEnsemble(loaded.generator) if options.self_ensemble else loaded.generator
    if loaded.meta.bands != manifest.bands:
        raise WeightsError(f"{loaded.path}: model takes {loaded.meta.bands} bands but {dataset} "
                           f"has {manifest.bands}; evaluate a model trained on this band set")  # fmt: skip
    if loaded.scale != manifest.scale:
        raise WeightsError(f"{loaded.path}: model upscales by {loaded.scale} but {dataset} is prepared for "
                           f"{manifest.scale}x; evaluate a model trained at this scale")  # fmt: skip
    precision = model_precision(options)
    data_range = data_range_for(manifest.dtype, manifest.norm, options.data_range, str(dataset))
    scorers = {m: Scorer(options.metrics, manifest.bands, data_range) for m in METHODS}
    shown = figure_indexes(len(tiles), options.figure_tiles)
    crops: list[dict[str, np.ndarray]] = []
    by_scene: dict[str, list[tuple[int, int]]] = defaultdict(list)
    origins = {}  # where each tile lies on its scene's HR grid
    for position, t in enumerate(tiles):
        by_scene[t.scene].append((position, t.index))
        origins[position] = (t.scene, *(v * manifest.scale for v in t.lr_origin))
    done = pixels = 0
    for scene, members in by_scene.items():
        lr_stack, hr_stack = open_scene(dataset, scene)
        for b in range(0, len(members), options.batch):
            batch = members[b : b + options.batch]
            rows = [i for _, i in batch]
            lr, hr = np.asarray(lr_stack[rows]), np.asarray(hr_stack[rows])
            lr_origins = [tiles[p].lr_origin for p, _ in batch]
            outs = _methods(generator, loaded.normalisation, lr, precision, manifest.scale, lr_origins)
            for k, (position, _) in enumerate(batch):
                per_tile = {m: o[k] for m, o in outs.items()}
                valid = manifest.hr_valid(hr[k])  # pixels prepare zeroed as invalid are not scored
                samples = tile_samples(lr[k], hr[k], per_tile, options.shave, valid, origins[position])
                for method, sample in samples.items():
                    scorers[method].update(sample)
                pixels += int(sample.scored.sum())
                if position in shown:
                    crops.append(figure_crops(lr[k], hr[k], per_tile, options.figure_crop))
            done += len(batch)
            progress(f"evaluate {options.split}", done, len(tiles))
    settings = {
        "model": weights_summary(loaded), "dataset": str(Path(dataset).resolve()), "split": options.split,
        **common_settings(options, data_range, manifest.dtype, manifest.scale),
        "precision": precision.describe(), "self_ensemble": options.self_ensemble,
        "dataset_normalisation": manifest.normalisation, "tile_context": "none beyond each tile",
    }  # fmt: skip
    counts = {"tiles": len(tiles), "scenes": len(by_scene), "scored_pixels_per_band": pixels}
    if not pixels:
        raise DataError(f"{dataset}: no valid pixel to score in split {options.split!r} after a "
                        f"{options.shave} px shave; lower --shave or choose another --split")  # fmt: skip
    scores = {m: s.results() for m, s in scorers.items()}
    seconds = time.perf_counter() - start
    return EvaluationReport("dataset", settings, scores, counts, seconds, crops, manifest.norm)


def _methods(
    generator: Any, norm: Normalisation, lr: np.ndarray, precision: Precision, scale: int,
    lr_origins: list[tuple[int, int]],
) -> dict[str, np.ndarray]:  # fmt: skip
    """The SR and the baselines of a batch of tiles at `lr_origins` (row, col) on their scenes."""
    from satsr.baselines import bicubic, lanczos, run_generator

    return {
        "sr": run_generator(generator, norm, lr, precision, lr_origins),
        "bicubic": bicubic(lr, norm, scale),
        "lanczos": np.stack([lanczos(tile, scale) for tile in lr]),
    }
