"""Image-quality metrics accumulated tile by tile (or window by window) over valid pixels only.

Every metric sees `Sample`s: an SR image, optionally its HR reference and its LR input, with masks. A
metric keeps sums, never images, so a scene of any size is scored in bounded memory. PSNR and MSE are
pooled: squared errors and pixel counts are summed over all tiles, and PSNR is computed once from the
pooled MSE (the mean of per-tile PSNRs, which over-weights easy tiles, is reported beside it, labelled).
Values are compared in native units (e.g. 0-255 for uint8) against an explicit `data_range`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.ndimage import binary_erosion
from skimage.metrics import structural_similarity

from satsr.degrade import area_downsample
from satsr.errors import UsageError
from satsr.tiling import downscale_mask

SSIM_WIN = 7  # skimage's default window; SSIM near a tile edge or a masked pixel is not scored
SHARPNESS_BLOCK = 64  # HR px: FFT block for the sharpness score (fully valid blocks only)
SHARPNESS_CUTOFF = 0.25  # fraction of Nyquist above which spectral energy counts as detail
PLACE_PX = 512  # HR px per side of a place for PSNR's gain interval: neighbouring tiles share land cover


@dataclass(frozen=True)
class Sample:
    """One tile or window of SR with what it is compared to. Arrays are (C, H, W) float64, native units."""

    sr: np.ndarray  # the upscaled image being scored
    hr: np.ndarray | None  # the reference on the same grid (None: no ground truth)
    valid: np.ndarray  # (H, W) pixels whose SR and HR values are real data
    scored: np.ndarray  # (H, W) the valid pixels inside the shave: the ones metrics count
    lr: np.ndarray | None = None  # (C, H/scale, W/scale) the LR input (for LR-consistency)
    lr_scored: np.ndarray | None = None  # (H/scale, W/scale) valid LR pixels inside the shave
    origin: tuple[str, int, int] | None = None  # (scene, HR row, HR col) of pixel (0, 0): where it lies


@dataclass(frozen=True)
class MetricResult:
    name: str  # registry key
    label: str  # human name with unit
    higher_is_better: bool  # direction of improvement
    overall: float  # pooled over all bands and pixels (inf when SR == HR for PSNR)
    bands: tuple[float, ...]  # the same, per band
    count: int  # pixels (or blocks, for sharpness) that entered the score
    extra: dict[str, float] = field(default_factory=dict)  # labelled secondary figures
    places: dict[str, tuple[float, int]] = field(default_factory=dict)  # PSNR: error sum, count per place


def psnr_from_mse(mse: float, data_range: float) -> float:
    """PSNR in dB; +inf when the images are identical (mse == 0), nan when nothing was scored."""
    if not math.isfinite(mse):
        return math.nan
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


class Metric:
    """Base: `update` with samples, then `result`. Subclasses set the class attributes."""

    label = ""
    higher_is_better = True
    needs_hr = True  # False: works without ground truth (e.g. LR-consistency)

    def __init__(self, name: str, bands: int, data_range: float) -> None:
        self.name, self.bands, self.data_range = name, bands, float(data_range)

    def update(self, s: Sample) -> None:
        raise NotImplementedError

    def result(self) -> MetricResult:
        raise NotImplementedError

    def _result(self, overall: float, bands: np.ndarray, count: int, **extra: float) -> MetricResult:
        per_band = tuple(float(b) for b in bands)
        return MetricResult(
            self.name, self.label, self.higher_is_better, float(overall), per_band, count, extra
        )


class _ErrorSums(Metric):
    """Per-band sums of |error|^p and counts over scored pixels."""

    power = 2

    def __init__(self, name: str, bands: int, data_range: float) -> None:
        super().__init__(name, bands, data_range)
        self.total = np.zeros(bands)
        self.count = 0  # scored pixels (the same in every band: masks are per pixel)
        self.tile_psnr: list[float] = []
        self.places: dict[str, tuple[float, int]] = {}  # place_key -> (error sum, values): for paired gains

    def update(self, s: Sample) -> None:
        assert s.hr is not None
        n = int(s.scored.sum())
        if n == 0:
            return
        diff = np.abs(s.sr[:, s.scored] - s.hr[:, s.scored]) ** self.power
        sums = diff.sum(axis=1)
        self.total += sums
        self.count += n
        self.tile_psnr.append(psnr_from_mse(float(sums.sum()) / (n * self.bands), self.data_range))
        key = place_key(s.origin, len(self.tile_psnr))
        error, values = self.places.get(key, (0.0, 0))
        self.places[key] = (error + float(sums.sum()), values + n * self.bands)

    def _means(self) -> tuple[float, np.ndarray]:
        if self.count == 0:
            return math.nan, np.full(self.bands, math.nan)
        return float(self.total.sum()) / (self.count * self.bands), self.total / self.count


class Mse(_ErrorSums):
    label = "MSE"
    higher_is_better = False

    def result(self) -> MetricResult:
        overall, bands = self._means()
        return self._result(overall, bands, self.count)


class Mae(_ErrorSums):
    label = "MAE"
    higher_is_better = False
    power = 1

    def result(self) -> MetricResult:
        overall, bands = self._means()
        return self._result(overall, bands, self.count)


class Psnr(_ErrorSums):
    label = "PSNR (dB)"

    def result(self) -> MetricResult:
        overall, bands = self._means()
        per_band = np.array([psnr_from_mse(float(m), self.data_range) for m in bands])
        finite = [p for p in self.tile_psnr if math.isfinite(p)]
        tile_mean = float(np.mean(finite)) if finite else math.nan
        result = self._result(psnr_from_mse(overall, self.data_range), per_band, self.count,
                              mean_tile_psnr=tile_mean)  # fmt: skip
        return replace(result, places=dict(self.places))


def place_key(origin: tuple[str, int, int] | None, tile: int) -> str:
    """The block of PLACE_PX HR px a tile starts in ("scene/row/col"); without an origin, its own place."""
    if origin is None:
        return f"tile {tile}"
    scene, row, col = origin
    return f"{scene}/{row // PLACE_PX}/{col // PLACE_PX}"


class Ssim(Metric):
    """skimage SSIM (7x7 uniform window) per band, averaged over scored pixels whose window is valid."""

    label = "SSIM"

    def __init__(self, name: str, bands: int, data_range: float) -> None:
        super().__init__(name, bands, data_range)
        self.weighted = np.zeros(bands)
        self.count = 0

    def update(self, s: Sample) -> None:
        assert s.hr is not None
        weight = ssim_weight(s.valid, s.scored)
        n = int(weight.sum())
        if n == 0:
            return
        # Masked pixels are set equal in SR and HR so that their values cannot matter.
        sr, hr = np.where(s.valid, s.sr, 0.0), np.where(s.valid, s.hr, 0.0)
        for b in range(self.bands):
            _, smap = structural_similarity(hr[b], sr[b], data_range=self.data_range, full=True,
                                            win_size=SSIM_WIN)  # fmt: skip
            self.weighted[b] += float(smap[weight].sum())
        self.count += n

    def result(self) -> MetricResult:
        bands = self.weighted / self.count if self.count else np.full(self.bands, math.nan)
        return self._result(float(np.mean(bands)), bands, self.count)


def ssim_weight(valid: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Scored pixels whose whole SSIM window is valid and inside the tile (skimage crops the same border)."""
    pad = (SSIM_WIN - 1) // 2
    inner = binary_erosion(valid, np.ones((SSIM_WIN, SSIM_WIN), bool), border_value=0)
    inner[:pad], inner[-pad:], inner[:, :pad], inner[:, -pad:] = False, False, False, False
    return inner & scored


class LrConsistency(Metric):
    """PSNR of the SR area-averaged back onto the LR grid against the LR input: no ground truth needed."""

    label = "LR PSNR (dB)"
    needs_hr = False

    def __init__(self, name: str, bands: int, data_range: float) -> None:
        super().__init__(name, bands, data_range)
        self.sums = Mse(name, bands, data_range)

    def update(self, s: Sample) -> None:
        if s.lr is None or s.lr_scored is None:
            return
        scale = s.sr.shape[-1] // s.lr.shape[-1]
        down = area_downsample(s.sr, scale)
        # An LR pixel counts when it is valid and all scale x scale SR pixels above it are valid.
        full = downscale_mask(s.valid, scale)
        self.sums.update(Sample(down, s.lr, full, full & s.lr_scored))

    def result(self) -> MetricResult:
        pooled = self.sums.result()  # pooled MSE on the LR grid
        per_band = np.array([psnr_from_mse(m, self.data_range) for m in pooled.bands])
        return self._result(psnr_from_mse(pooled.overall, self.data_range), per_band, pooled.count)


class Sharpness(Metric):
    """High-frequency spectral energy of SR divided by that of HR (1.0: as sharp as the reference).

    Energy above SHARPNESS_CUTOFF of Nyquist (1/4: exactly what the 4x coarser LR grid cannot hold), from
    a Hann-windowed FFT of mean-removed SHARPNESS_BLOCK px blocks that are wholly scored.
    """

    label = "sharpness"

    def __init__(self, name: str, bands: int, data_range: float) -> None:
        super().__init__(name, bands, data_range)
        self.sr_energy, self.hr_energy = np.zeros(bands), np.zeros(bands)
        self.blocks = 0

    def update(self, s: Sample) -> None:
        assert s.hr is not None
        for rows, cols in scored_blocks(s.scored, SHARPNESS_BLOCK):
            self.sr_energy += hf_energy(s.sr[:, rows, cols])
            self.hr_energy += hf_energy(s.hr[:, rows, cols])
            self.blocks += 1

    def result(self) -> MetricResult:
        with np.errstate(divide="ignore", invalid="ignore"):
            bands = self.sr_energy / self.hr_energy
            overall = self.sr_energy.sum() / self.hr_energy.sum()
        return self._result(float(overall), bands, self.blocks)


def scored_blocks(scored: np.ndarray, size: int) -> list[tuple[slice, slice]]:
    """Non-overlapping size x size blocks, laid from the top-left scored pixel, that are wholly scored.

    Tiles smaller than `size` give one block as large as fits, so that tiny tiles still count."""
    rows, cols = np.nonzero(scored.any(axis=1))[0], np.nonzero(scored.any(axis=0))[0]
    if rows.size == 0:
        return []
    size = min(size, rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0])  # tiny tiles: one smaller block
    out = []
    for r in range(rows[0], rows[-1] + 2 - size, size):
        for c in range(cols[0], cols[-1] + 2 - size, size):
            block = (slice(r, r + size), slice(c, c + size))
            if scored[block].all():
                out.append(block)
    return out


def hf_energy(block: np.ndarray) -> np.ndarray:
    """(C, N, N) -> (C,) spectral energy above SHARPNESS_CUTOFF of Nyquist."""
    n = block.shape[-1]
    hann = np.outer(np.hanning(n), np.hanning(n))
    centred = (block - block.mean(axis=(1, 2), keepdims=True)) * hann
    power = np.abs(np.fft.fft2(centred)) ** 2
    f = np.fft.fftfreq(n)
    radius = np.hypot(f[:, None], f[None, :])
    return power[:, radius > SHARPNESS_CUTOFF * 0.5].sum(axis=1)


class Realism(Metric):
    """Set-level, not per pixel: a classifier two-sample test of SR crops against HR crops (satsr.realism).

    Accuracy of a fresh classifier tested on places it did not train on: 0.5 means indistinguishable."""

    label = "realism (classifier accuracy)"
    higher_is_better = False

    def __init__(self, name: str, bands: int, data_range: float) -> None:
        super().__init__(name, bands, data_range)
        from satsr.realism import CropBank

        self.bank = CropBank(data_range)

    def update(self, s: Sample) -> None:
        self.bank.add(s)

    def result(self) -> MetricResult:
        from satsr.realism import score_bank, summary

        result, control = score_bank(self.bank)
        return self._result(result.accuracy, np.zeros(0), result.total, **summary(result, control))


# The registry: every name `--metrics` accepts, in display order.
METRICS: dict[str, type[Metric]] = {
    "psnr": Psnr,
    "mse": Mse,
    "ssim": Ssim,
    "mae": Mae,
    "lr_psnr": LrConsistency,
    "sharpness": Sharpness,
    "realism": Realism,  # not in DEFAULT_METRICS: it trains classifiers (about a CPU minute per method)
}
DEFAULT_METRICS = ("psnr", "mse", "ssim", "mae", "lr_psnr", "sharpness")


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """'psnr,mse' -> ('psnr', 'mse'); unknown names are a usage error that lists the valid ones."""
    if text is None:
        return DEFAULT_METRICS
    names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise UsageError(f"--metrics {text!r}: unknown {', '.join(unknown) or 'empty list'}; "
                         f"choose from {', '.join(METRICS)}")  # fmt: skip
    return names


class Scorer:
    """One set of metric accumulators for one image source (the model, a baseline)."""

    def __init__(self, names: tuple[str, ...], bands: int, data_range: float) -> None:
        self.metrics = [METRICS[n](n, bands, data_range) for n in names]

    def update(self, s: Sample) -> None:
        for m in self.metrics:
            if s.hr is not None or not m.needs_hr:
                m.update(s)

    def results(self) -> dict[str, MetricResult]:
        return {m.name: m.result() for m in self.metrics}
