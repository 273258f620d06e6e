"""Per-band radiometric normalisation: computed by prepare, stored in the weights, applied by upscale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """Maps each band linearly so that `low` -> 0 and `high` -> 1 (float32 model space)."""

    dtype: str  # dtype of the imagery the model was trained on, e.g. "uint8"
    low: tuple[float, ...]  # per band value mapped to 0
    high: tuple[float, ...]  # per band value mapped to 1

    @classmethod
    def for_dtype(cls, dtype: str, bands: int) -> Normalisation:
        """The full integer range of `dtype` (the natural choice for 8-bit imagery)."""
        info = np.iinfo(np.dtype(dtype))
        return cls(dtype, (float(info.min),) * bands, (float(info.max),) * bands)

    @classmethod
    def from_samples(cls, dtype: str, samples: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)):
        """Percentile stretch per band from valid (C, N) samples: 11/12/16-bit imagery needs it."""
        low, high = np.percentile(samples.astype(np.float64), percentiles, axis=1)
        high = np.maximum(high, low + 1e-6)
        return cls(dtype, tuple(map(float, low)), tuple(map(float, high)))

    @property
    def bands(self) -> int:
        return len(self.low)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(C, ...) native values -> float32 model space."""
        low, span = self._arrays(x.ndim)
        return ((x.astype(np.float32) - low) / span).astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """(C, ...) model space -> native dtype, rounded and clipped to the dtype's range."""
        low, span = self._arrays(y.ndim)
        x = y.astype(np.float32) * span + low
        dtype = np.dtype(self.dtype)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            x = np.clip(np.rint(x), info.min, info.max)
        return x.astype(dtype)

    def _arrays(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (-1,) + (1,) * (ndim - 1)
        low = np.asarray(self.low, dtype=np.float32).reshape(shape)
        span = (np.asarray(self.high, dtype=np.float32) - low.ravel()).reshape(shape)
        return low, span

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalisation:
        return cls(str(d["dtype"]), tuple(map(float, d["low"])), tuple(map(float, d["high"])))
