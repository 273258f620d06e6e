"""The evaluation kit every `satsr evaluate` mode shares: options, the report (JSON, gains), the data range,
output checks, figure crops and the settings each report states. The modes are thin fronts over it:
dataset mode in evaluate.py, raster modes in evaluate_raster.py; metrics in metrics.py, baselines in
baselines.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satsr.errors import OutputExistsError, UsageError
from satsr.metrics import DEFAULT_METRICS, PLACE_PX, MetricResult
from satsr.normalise import Normalisation

if TYPE_CHECKING:
    from satsr.precision import Precision

METHODS = ("sr", "bicubic", "lanczos")  # the scored image first, then the baselines
BASELINES = METHODS[1:]


@dataclass(frozen=True)
class EvaluateOptions:
    metrics: tuple[str, ...] = DEFAULT_METRICS  # registry names (satsr.metrics.METRICS) to compute
    split: str = "test"  # dataset split to score
    shave: int = 4  # HR px left out along each tile edge (dataset) or scene edge (rasters)
    batch: int = 8  # tiles per generator batch
    figure_tiles: int = 4  # tiles in the PNG figure, evenly spaced by index: the same every run
    figure_crop: int = 128  # HR px shown per tile in the figure (centre crop)
    data_range: float | None = None  # None: 255 for uint8, else the stored normalisation's widest band
    window: int = 512  # HR px per side of a streaming window in the raster modes (bounds memory)
    precision: str = "auto"  # the model's: auto (bf16 where the CPU/GPU runs it natively), fp32, bf16
    softness: float | None = None  # conditioned models: input blur in HR px; None: estimated (tile/scene)
    self_ensemble: bool = False  # the model averaged over the 8 flips and rotations of its input


DEFAULTS = EvaluateOptions()


@dataclass(frozen=True)
class EvaluationReport:
    mode: str  # "dataset", "model-raster" or "raster"
    settings: dict[str, Any]  # every input and option needed to reproduce the numbers
    scores: dict[str, dict[str, MetricResult]]  # method (sr, bicubic, lanczos) -> metric -> result
    counts: dict[str, int]  # tiles/windows and pixels that entered the scores
    seconds: float  # wall time of the evaluation
    crops: list[dict[str, np.ndarray]] = field(default_factory=list, repr=False)  # for the figure
    display_norm: Normalisation | None = None  # how the figure maps native values to [0, 1]

    def gain(self, baseline: str, metric: str) -> float:
        """SR minus baseline (dB for PSNR): positive is better when the metric rises with quality."""
        return self.scores["sr"][metric].overall - self.scores[baseline][metric].overall

    def psnr_gain_interval(self, baseline: str) -> tuple[float, float]:
        """95 % interval of the PSNR gain over `baseline` (nan, nan without PSNR or with under 2 places)."""
        sr, base = self.scores["sr"].get("psnr"), self.scores[baseline].get("psnr")
        return paired_psnr_interval(sr.places, base.places) if sr and base else (math.nan, math.nan)

    def to_json(self) -> dict[str, Any]:
        """Every number and setting; non-finite values become the strings 'inf', '-inf', 'nan'."""
        baselines = [b for b in BASELINES if b in self.scores]
        gains = {b: {m: self.gain(b, m) for m in self.scores["sr"]} for b in baselines}
        raw = {
            "mode": self.mode, "settings": self.settings, "counts": self.counts,
            "seconds": self.seconds, "gain_over": gains,
            "psnr_gain_interval": {b: list(self.psnr_gain_interval(b)) for b in baselines},
            "scores": {k: {m: asdict(r) for m, r in v.items()} for k, v in self.scores.items()},
        }  # fmt: skip
        return _json_safe(raw)


def paired_psnr_interval(
    a: dict[str, tuple[float, int]], b: dict[str, tuple[float, int]], draws: int = 2000, seed: int = 0
) -> tuple[float, float]:  # fmt: skip
    """95 % interval of PSNR(a) - PSNR(b) over the same places (metrics.place_key: blocks of tiles, which
    share land cover): a paired bootstrap that redraws whole places, so both sides see the same ground.
    The data range cancels in the difference: 10 log10(MSE_b / MSE_a)."""
    keys = sorted(a)
    if sorted(b) != keys or len(keys) < 2:
        return math.nan, math.nan
    sa, sb = (np.array([side[k] for k in keys], dtype=np.float64) for side in (a, b))
    picks = np.random.default_rng(seed).integers(0, len(keys), (draws, len(keys)))
    mse_a, mse_b = (s[picks, 0].sum(1) / s[picks, 1].sum(1) for s in (sa, sb))
    with np.errstate(divide="ignore", invalid="ignore"):  # SR == HR at every drawn place: inf (or nan)
        gains = 10 * np.log10(mse_b / mse_a)
    low, high = np.percentile(gains, [2.5, 97.5])
    return float(low), float(high)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 'inf', '-inf' or 'nan': valid JSON, unlike Infinity/NaN
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, report: EvaluationReport, overwrite: bool = False) -> Path:
    """The report as JSON, written atomically (strict JSON: no NaN/Infinity literals)."""
    from satsr.outputs import atomic_output

    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(report_json(report))
    return path


def report_json(report: EvaluationReport) -> str:
    """The report as strict JSON text (`--json FILE`, or stdout for `--json -`)."""
    return json.dumps(report.to_json(), indent=1, allow_nan=False)


def data_range_for(dtype: str, norm: Normalisation | None, override: float | None, where: str) -> float:
    """The peak value PSNR/SSIM are measured against: stated in every report."""
    if override is not None:
        if override <= 0:
            raise UsageError(f"--data-range {override}: must be positive")
        return float(override)
    if np.dtype(dtype) == np.uint8:
        return 255.0
    if norm is not None:
        return float(max(h - lo for lo, h in zip(norm.low, norm.high, strict=True)))
    raise UsageError(
        f"{where}: {dtype} imagery has no natural peak value; pass --data-range (e.g. 2047 for 11-bit)"
    )


def check_outputs(
    paths: list[Path | None], overwrite: bool, inputs: Sequence[Path | None] = (),
    folders: Sequence[Path | None] = (),
) -> None:  # fmt: skip
    """Refuse up front, before minutes of work, to overwrite a report or figure (files), a page (`folders`),
    a folder given for a file, or an input."""
    from satsr.outputs import refuse_inputs

    refuse_inputs([*paths, *folders], inputs, "report")
    for p in [*paths, *folders]:
        if p is not None and p in paths and p.is_dir():
            raise UsageError(f"{p}: is a folder; give a file name for --json/--figure")
        if p is not None and p.exists() and not overwrite:
            raise OutputExistsError(f"{p}: already exists; pass --overwrite to replace it")


def interior(height: int, width: int, shave: int) -> np.ndarray:
    """(H, W) True except `shave` px along each edge."""
    mask = np.zeros((height, width), dtype=bool)
    mask[shave : height - shave, shave : width - shave] = True
    return mask


def figure_indexes(count: int, wanted: int) -> set[int]:
    """Evenly spaced positions in the split (first and last included): the same tiles every run."""
    if count == 0 or wanted <= 0:
        return set()
    return {round(i) for i in np.linspace(0, count - 1, min(wanted, count))}


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[-2:]
    r, c = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return img[..., r : r + size, c : c + size]


def figure_crops(
    lr: np.ndarray, hr: np.ndarray, outputs: dict[str, np.ndarray], size: int
) -> dict[str, np.ndarray]:
    """LR | bicubic | lanczos | SR | HR centre crops of one tile (LR crop covers the same ground)."""
    crops = {"LR": centre_crop(lr, max(size // (hr.shape[-1] // lr.shape[-1]), 1))}
    crops |= {name: centre_crop(outputs[name], size) for name in ("bicubic", "lanczos", "sr")}
    crops["HR"] = centre_crop(hr, size)
    return crops


def weights_summary(loaded: Any) -> dict[str, Any]:
    """What the report says about the model: path, architecture, normalisation and provenance keys."""
    meta = loaded.metadata
    keep = ("architecture", "normalisation", "satsr_version", "training", "datasets", "val", "step", "phase",
            "export")  # fmt: skip
    return {"path": str(loaded.path), **{k: meta[k] for k in keep if k in meta}}


def model_precision(options: EvaluateOptions) -> Precision:
    """The precision the model runs in, on the device upscale would pick."""
    from satsr.precision import resolve_device, resolve_precision

    return resolve_precision(options.precision, resolve_device("auto"))


def common_settings(
    options: EvaluateOptions, data_range: float, dtype: str, scale: int | None
) -> dict[str, Any]:
    return {
        "metrics": list(options.metrics), "dtype": dtype, "data_range": data_range,
        "shave_hr_px": options.shave, "scale": scale,
        "pooling": "PSNR from the MSE pooled over all scored pixels and bands (mean_tile_psnr: mean of "
                   "per-tile PSNRs, tiles with SR == HR left out); SSIM: skimage, 7x7 window, averaged over "
                   "scored pixels whose window is valid; only valid (unmasked) pixels are scored",
        "psnr_gain_interval": f"95 % paired bootstrap over places of {PLACE_PX} HR px (2000 draws, seed 0)",
        "sharpness": "HF spectral energy above 1/4 of Nyquist, SR / HR, Hann-windowed 64 px valid blocks",
        "lr_psnr": f"SR area-averaged {scale}x onto the LR grid vs the LR input",
        "baselines": {"bicubic": "torch interpolate bicubic, align_corners=False, on normalised LR, "
                                 "rounded/clipped like a model output",
                      "lanczos": "GDAL warp, Resampling.lanczos (gdalwarp -r lanczos)"},
    }  # fmt: skip
