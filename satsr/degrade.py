"""The one place where a satellite-like LR tile is synthesised from an aerial HR tile (HR-only training).

Two recipes: a fixed one that `satsr prepare --degrade` bakes into a dataset, and a random one that
`satsr train --degrade random` draws anew for every training sample (`RandomDegradation`, below).

The fixed recipe:

    LR = quantise(noise(downsample_4x(gaussian_blur(HR, sigma))))

- Gaussian blur approximates the satellite system MTF. A Gaussian of sigma (HR px) has MTF
  exp(-2 pi^2 sigma^2 f^2); at the LR Nyquist frequency f = 1 / (2 * 4) cycles per HR px, sigma = 2.0 gives
  ~0.29, in the 0.1-0.3 range usually quoted for very-high-resolution satellites. sigma is drawn uniformly
  in [sigma_min, sigma_max] per tile so the model does not overfit one blur.
- Area (box) downsampling by 4 integrates the blurred signal over each LR pixel, as a detector does;
  `kernel` "bicubic" or "bilinear" resamples with torch's antialiased interpolation instead (sigma 0 and
  bicubic is the "BI" benchmark degradation of SR papers).
- Gaussian noise of `noise_sigma` DN (native units) stands for sensor noise.
- Optional JPEG round trip (8-bit, 1 or 3 bands) mimics the compression of delivered satellite products.

Every draw comes from the `rng` the caller passes, so a seed reproduces the dataset exactly.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve
from skimage.transform import downscale_local_mean

from satsr.errors import UsageError


@dataclass(frozen=True)
class Degradation:
    sigma_min: float = 1.6  # smallest Gaussian blur sigma in HR px (MTF at LR Nyquist ~0.45)
    sigma_max: float = 2.4  # largest Gaussian blur sigma in HR px (MTF at LR Nyquist ~0.17)
    noise_sigma: float = 1.0  # standard deviation of additive Gaussian noise, in native DN
    jpeg_quality: int | None = None  # JPEG round-trip quality 1-95 (uint8 only); None: no compression
    scale: int = 4  # HR px per LR px along each axis
    kernel: str = "area"  # downsampling kernel: area, bicubic or bilinear (antialiased)

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise UsageError(f"downsampling kernel {self.kernel!r}: one of {', '.join(KERNELS)}")
        if not 0 <= self.sigma_min <= self.sigma_max <= 64:  # NaN fails too
            sigmas = f"{self.sigma_min}..{self.sigma_max}"
            raise UsageError(f"blur sigma {sigmas}: need 0 <= min <= max <= 64 HR px")
        if not 0 <= self.noise_sigma < float("inf"):
            raise UsageError(f"noise sigma {self.noise_sigma}: must be a finite number >= 0")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 95:
            raise UsageError(f"JPEG quality {self.jpeg_quality}: must be between 1 and 95")

    @property
    def margin(self) -> int:
        """HR px of context to read around a tile so the blur sees real neighbours (a multiple of scale)."""
        need = int(np.ceil(3 * self.sigma_max)) + (0 if self.kernel == "area" else 2 * self.scale)
        return -(-need // self.scale) * self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"method": f"gaussian-blur+{self.kernel}-downsample+noise", **asdict(self)}


KERNELS = ("area", "bicubic", "bilinear")


def area_downsample(img: np.ndarray, scale: int) -> np.ndarray:
    """(C, H, W) -> (C, H/scale, W/scale) float block means: a detector with scale x larger pixels."""
    return downscale_local_mean(img, (1, scale, scale))


def downsample(img: np.ndarray, scale: int, kernel: str) -> np.ndarray:
    """(C, H, W) float -> (C, H/scale, W/scale) with `kernel` (area, or torch's antialiased resampling)."""
    if kernel == "area":
        return area_downsample(img, scale)
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
    y = F.interpolate(x, scale_factor=1 / scale, mode=kernel, antialias=True, align_corners=False)
    return y[0].numpy()


def degrade(hr: np.ndarray, params: Degradation, rng: np.random.Generator, margin: int = 0) -> np.ndarray:
    """(C, H, W) HR -> (C, (H - 2m) / s, (W - 2m) / s) LR in the HR dtype.

    `margin` px of context on each side are blurred with the tile and cropped before downsampling.
    """
    dtype = hr.dtype
    sigma = rng.uniform(params.sigma_min, params.sigma_max)
    x = hr.astype(np.float32)
    if sigma > 0:
        x = np.stack([gaussian_filter(band, sigma, mode="reflect") for band in x])
    x = downsample(x, params.scale, params.kernel)
    m = margin // params.scale  # context cropped after resampling: the kernel saw real neighbours
    x = x[:, m : x.shape[1] - m, m : x.shape[2] - m]
    if params.noise_sigma > 0:
        x = x + rng.normal(0.0, params.noise_sigma, x.shape).astype(np.float32)
    lr = _to_dtype(x, dtype)
    if params.jpeg_quality is not None:
        lr = _jpeg(lr, params.jpeg_quality)
    return lr


def _to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _jpeg(lr: np.ndarray, quality: int) -> np.ndarray:
    """JPEG encode/decode round trip (Pillow ships with matplotlib)."""
    from PIL import Image

    if lr.dtype != np.uint8 or lr.shape[0] not in (1, 3):
        raise UsageError("--jpeg-quality needs 8-bit imagery with 1 or 3 bands; drop the option")
    img = Image.fromarray(lr[0] if lr.shape[0] == 1 else np.moveaxis(lr, 0, -1))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    return out[None] if out.ndim == 2 else np.moveaxis(out, -1, 0).copy()


@dataclass(frozen=True)
class RandomDegradation:
    """The range every training sample's degradation is drawn from (after Real-ESRGAN and BSRGAN).

    Real 30 cm imagery comes in every sharpness (sensor MTF, pan-sharpening, vendor sharpening, resampling,
    compression), so a model trained on one fixed blur over-sharpens sharper input. Per sample:
    blur (none, isotropic or anisotropic Gaussian) -> downsample (area, bicubic or bilinear) -> optional
    second pass at LR (mild blur) -> noise -> optional unsharp mask -> quantise -> optional JPEG.
    """

    sharp_prob: float = 0.25  # no blur at all: the antialiased downsample only (sharpest input)
    sigma_max: float = 3.0  # blur sigma per axis, uniform in [0.3, sigma_max] HR px
    aniso_prob: float = 0.5  # blurs that are anisotropic (independent sigmas, random orientation)
    noise_prob: float = 0.5  # samples with Gaussian noise, sigma uniform in [0, noise_max] DN
    noise_max: float = 3.0
    sharpen_prob: float = 0.2  # unsharp mask on the LR (vendor sharpening), amount in [0.3, 1.0]
    second_prob: float = 0.2  # second-order pass: LR blur sigma in [0.3, 0.8] LR px
    jpeg_prob: float = 0.25  # JPEG round trip, quality uniform in [60, 95] (8-bit, 1 or 3 bands)
    stored_prob: float = 0.0  # training crops that keep the LR prepare stored (its recipe) instead

    def __post_init__(self) -> None:
        probs = ("sharp_prob", "aniso_prob", "noise_prob", "sharpen_prob", "second_prob", "jpeg_prob",
                 "stored_prob")  # fmt: skip
        bad = [n for n in probs if not 0 <= getattr(self, n) <= 1]
        if bad or not 0.3 <= self.sigma_max <= 8 or not 0 <= self.noise_max <= 64:
            raise UsageError(f"random degradation: need probabilities in [0, 1], 0.3 <= sigma_max <= 8 and "
                             f"0 <= noise_max <= 64 (got {self})")  # fmt: skip

    def margin(self, scale: int) -> int:
        """HR px of context each side of a crop (a multiple of scale): what the blur and resampler reach."""
        need = int(np.ceil(3 * self.sigma_max)) + 2 * scale
        return -(-need // scale) * scale

    def to_dict(self) -> dict[str, Any]:
        return {"method": "random: blur+downsample+second-pass+noise+sharpen+jpeg", **asdict(self)}


def degrade_random(
    hr: np.ndarray, params: RandomDegradation, rng: np.random.Generator, scale: int, margin: int = 0
) -> tuple[np.ndarray, float]:
    """(C, H, W) HR with `margin` px of context -> (C, (H - 2m) / s, (W - 2m) / s) LR in the HR dtype, and
    its softness: the Gaussian blur applied before the downsample, in HR px (the geometric mean of the axes
    of an anisotropic blur; a second LR pass adds in quadrature; 0 for a plain antialiased downsample)."""
    x = hr.astype(np.float32)
    variance = 0.0
    if rng.random() >= params.sharp_prob:
        kernel, sigma = _gaussian_kernel(rng, params.sigma_max, rng.random() < params.aniso_prob)
        x, variance = _blur(x, kernel), sigma**2
    x = downsample(x, scale, KERNELS[int(rng.integers(len(KERNELS)))])
    if rng.random() < params.second_prob:
        kernel, sigma = _gaussian_kernel(rng, 0.8, False, low=0.3)
        x, variance = _blur(x, kernel), variance + (scale * sigma) ** 2
    if rng.random() < params.noise_prob:
        gray = rng.random() < 0.4  # the same noise in every band, as after pan-sharpening
        noise = rng.standard_normal((1, *x.shape[1:]) if gray else x.shape, np.float32)
        x = x + np.float32(rng.uniform(0, params.noise_max)) * noise
    if rng.random() < params.sharpen_prob:
        amount = np.float32(rng.uniform(0.3, 1.0))
        x = x + amount * (x - _blur(x, _gaussian_kernel(rng, 1.0, False, low=1.0)[0]))
    m = margin // scale
    lr = _to_dtype(x[:, m : x.shape[1] - m, m : x.shape[2] - m], hr.dtype)
    if rng.random() < params.jpeg_prob and lr.dtype == np.uint8 and lr.shape[0] in (1, 3):
        lr = _jpeg(lr, int(rng.integers(60, 96)))
    return lr, float(np.sqrt(variance))


def _gaussian_kernel(
    rng: np.random.Generator, sigma_max: float, aniso: bool, low: float = 0.3
) -> tuple[np.ndarray, float]:
    """A normalised 2-D Gaussian (k, k) with sigmas drawn in [low, sigma_max], rotated when anisotropic,
    and the geometric mean of its sigmas."""
    sx = rng.uniform(low, sigma_max)
    sy, theta = (rng.uniform(low, sigma_max), rng.uniform(0, np.pi)) if aniso else (sx, 0.0)
    radius = int(np.ceil(3 * sigma_max))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return (k / k.sum()).astype(np.float32), float(np.sqrt(sx * sy))


def _blur(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(C, H, W) convolved band by band with a (k, k) kernel (FFT: 5x faster than a direct 19x19 conv);
    reflected edges keep the size."""
    r = kernel.shape[0] // 2
    padded = np.pad(x, ((0, 0), (r, r), (r, r)), mode="reflect" if min(x.shape[1:]) > r else "edge")
    return fftconvolve(padded, kernel[None], mode="valid").astype(np.float32)
