"""Scenes in another dtype than the weights' training data: a per-scene linear stretch, inverted on output.

Weights trained on uint8 imagery may declare a `scene_stretch` in their metadata (the shipped pan model
does): a scene of any other numeric dtype (11-bit pan in uint16, 12/14-bit, float reflectance) is then
mapped linearly so that its robust range (percentiles of its valid pixels) lands where the training data's
range lay, the model runs, and the same map is inverted on the output, so pixels come back in the scene's
own units and dtype. Why per scene and not one stored range: 11-bit products use a small, scene-dependent
part of their range (sensor gain, sun elevation, land cover: 183-1392 DN for WorldView-3 over Las Vegas,
102-1393 DN for WorldView-2 over Atlanta, 0.5-99.5 %), so a fixed map would show the model a dim image
unlike anything it was trained on; the map is computed once per scene (never per tile: no seams) from a
decimated read, and recorded in the output's tags (SATSR_SCENE_STRETCH).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.io import DatasetReader

from satsr.normalise import Normalisation

STRETCH_KEY = "scene_stretch"  # weights metadata key
PERCENTILES = (0.5, 99.5)  # robust range of a scene's valid pixels (as the uint8-conversion hints use)
PREVIEW_SIDE = 1024  # px of the decimated read the percentiles come from (overviews when present)


@dataclass(frozen=True)
class SceneStretch:
    """What the weights declare: scene percentiles `percentiles` map to `targets` (training dtype units)."""

    percentiles: tuple[float, float]  # of each band's valid pixels in the scene
    targets: tuple[float, float]  # where they lay in the training data (e.g. uint8 DN of the train LR)

    def to_dict(self) -> dict[str, Any]:
        return {"percentiles": list(self.percentiles), "targets": list(self.targets)}

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> SceneStretch | None:
        """The stretch weights declare, or None (malformed counts as none: such weights refuse the dtype)."""
        raw = meta.get(STRETCH_KEY)
        try:
            p, t = tuple(map(float, raw["percentiles"])), tuple(map(float, raw["targets"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            return None
        if len(p) != 2 or len(t) != 2 or not (0 <= p[0] < p[1] <= 100 and t[0] < t[1]):
            return None
        return cls((p[0], p[1]), (t[0], t[1]))

    def normalisation(
        self, trained: Normalisation, dtype: str, low: np.ndarray, high: np.ndarray
    ) -> Normalisation:
        """The per-scene normalisation: scene values `low`/`high` (per band) -> the model-space values of
        `targets` under the weights' own normalisation `trained`; output cast back to `dtype`."""
        t_low, t_high = (np.asarray(trained.forward(np.full((trained.bands, 1), t)), np.float64).ravel()
                         for t in self.targets)  # fmt: skip
        high = np.maximum(high, low + 1e-6)
        span = (high - low) / (t_high - t_low)
        zero = low - t_low * span
        return Normalisation(dtype, tuple(map(float, zero)), tuple(map(float, zero + span)))


def scene_percentiles(ds: DatasetReader, bands: list[int], percentiles: tuple[float, float],
                      side: int = PREVIEW_SIDE) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per band (low, high) percentiles of valid pixels, from a decimated read (overviews when present)."""
    factor = max(1, -(-max(ds.width, ds.height) // side))
    shape = (len(bands), max(1, ds.height // factor), max(1, ds.width // factor))
    data = ds.read(bands, out_shape=shape, masked=True)
    lows, highs = [], []
    for band in data:
        values = band.compressed() if np.ma.is_masked(band) else np.asarray(band).ravel()
        values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        low, high = np.percentile(values, percentiles) if values.size else (0.0, 1.0)
        lows.append(float(low))
        highs.append(float(high))
    return np.array(lows), np.array(highs)


def scene_normalisation(
    ds: DatasetReader, bands: list[int], trained: Normalisation, meta: dict[str, Any]
) -> tuple[Normalisation, dict[str, str]]:
    """The normalisation to run this scene with (the weights' own when its dtype is theirs) and the tags
    that record a per-scene stretch."""
    dtype = ds.dtypes[bands[0] - 1]
    stretch = SceneStretch.from_metadata(meta)
    if dtype == trained.dtype or stretch is None:
        return trained, {}
    low, high = scene_percentiles(ds, bands, stretch.percentiles)
    norm = stretch.normalisation(trained, dtype, low, high)
    p_low, p_high = (f"{p:g}" for p in stretch.percentiles)
    ranges = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in zip(low, high, strict=True))
    targets = f"{stretch.targets[0]:g}-{stretch.targets[1]:g} {trained.dtype}"
    text = f"scene {p_low}-{p_high} % range {ranges} {dtype} -> {targets} (as trained), inverted on output"
    return norm, {"SATSR_SCENE_STRETCH": text}


def training_targets(
    datasets: list[str], percentiles: tuple[float, float] = PERCENTILES
) -> tuple[float, float]:
    """Percentiles of the valid train-split LR pixels of `datasets`, pooled as training samples them
    (uniformly over tiles): the range the model saw."""
    from satsr.manifest import load_manifest, open_scene

    pooled = []
    for root in datasets:
        manifest = load_manifest(root)
        for scene in manifest.scenes:
            rows = sorted(t.index for t in manifest.tiles if t.scene == scene.name and t.split == "train")
            if not rows:
                continue
            lr = np.asarray(open_scene(root, scene.name)[0][rows])  # (N, C, T, T)
            valid = lr.any(axis=1) if manifest.zero_is_nodata else np.ones(lr.shape[:1] + lr.shape[2:], bool)
            pooled.append(lr.transpose(1, 0, 2, 3)[:, valid].ravel())
    low, high = np.percentile(np.concatenate(pooled), percentiles)
    return float(low), float(high)
