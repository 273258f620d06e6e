"""The one place where a satellite-like LR tile is synthesised from an aerial HR tile (HR-only training).

    LR = quantise(noise(area_downsample_4x(gaussian_blur(HR, sigma))))

- Gaussian blur approximates the satellite system MTF. A Gaussian of sigma (HR px) has MTF
  exp(-2 pi^2 sigma^2 f^2); at the LR Nyquist frequency f = 1 / (2 * 4) cycles per HR px, sigma = 2.0 gives
  ~0.29, in the 0.1-0.3 range usually quoted for very-high-resolution satellites. sigma is drawn uniformly
  in [sigma_min, sigma_max] per tile so the model does not overfit one blur.
- Area (box) downsampling by 4 integrates the blurred signal over each LR pixel, as a detector does.
- Gaussian noise of `noise_sigma` DN (native units) stands for sensor noise.
- Optional JPEG round trip (8-bit, 1 or 3 bands) mimics the compression of delivered satellite products.

Every draw comes from the `rng` the caller passes, so a seed reproduces the dataset exactly.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.transform import downscale_local_mean

from satsr.errors import UsageError


@dataclass(frozen=True)
class Degradation:
    sigma_min: float = 1.6  # smallest Gaussian blur sigma in HR px (MTF at LR Nyquist ~0.45)
    sigma_max: float = 2.4  # largest Gaussian blur sigma in HR px (MTF at LR Nyquist ~0.17)
    noise_sigma: float = 1.0  # standard deviation of additive Gaussian noise, in native DN
    jpeg_quality: int | None = None  # JPEG round-trip quality 1-95 (uint8 only); None: no compression
    scale: int = 4  # HR px per LR px along each axis

    def __post_init__(self) -> None:
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
        need = int(np.ceil(3 * self.sigma_max))
        return -(-need // self.scale) * self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"method": "gaussian-blur+area-downsample+noise", **asdict(self)}


def area_downsample(img: np.ndarray, scale: int) -> np.ndarray:
    """(C, H, W) -> (C, H/scale, W/scale) float block means: a detector with scale x larger pixels."""
    return downscale_local_mean(img, (1, scale, scale))


def degrade(hr: np.ndarray, params: Degradation, rng: np.random.Generator, margin: int = 0) -> np.ndarray:
    """(C, H, W) HR -> (C, (H - 2m) / s, (W - 2m) / s) LR in the HR dtype.

    `margin` px of context on each side are blurred with the tile and cropped before downsampling.
    """
    dtype = hr.dtype
    sigma = rng.uniform(params.sigma_min, params.sigma_max)
    x = hr.astype(np.float32)
    if sigma > 0:
        x = np.stack([gaussian_filter(band, sigma, mode="reflect") for band in x])
    if margin:
        x = x[:, margin:-margin, margin:-margin]
    x = area_downsample(x, params.scale)
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
