"""The prepared-dataset format, shared by prepare (writer) and dataset/evaluate (readers).

    DATASET/manifest.json            this file's Manifest, as JSON
    DATASET/scenes/NAME_lr.npy       (N, C, T, T) kept LR tiles of one scene, native dtype
    DATASET/scenes/NAME_hr.npy       (N, C, 4T, 4T) the HR tiles of the same ground, same order

Tiles are stacked per scene so that training memory-maps one file per scene and reads any tile at random
without opening thousands of small files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from satsr.errors import DataError
from satsr.normalise import Normalisation

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
Split = Literal["train", "val", "test"]


@dataclass(frozen=True)
class TileRecord:
    scene: str  # SceneRecord.name
    index: int  # row of this tile in the scene's stacked arrays
    split: str  # train, val or test
    lr_window: tuple[int, int, int, int]  # col_off, row_off, width, height on the scene's LR grid
    bounds: tuple[float, float, float, float]  # left, bottom, right, top in the scene's CRS
    shift: float | None = None  # estimated LR->HR misregistration in LR px (None: not measured)


@dataclass(frozen=True)
class SceneRecord:
    name: str  # unique within the dataset, used in file names
    kind: str  # "pair" (real LR and HR) or "degraded" (LR made from HR)
    hr_source: str  # path of the aerial raster
    lr_source: str | None  # path of the satellite raster (None for degraded scenes)
    crs: str  # CRS of the LR grid (WKT or authority string)
    lr_transform: tuple[float, ...]  # affine of the LR grid (a, b, c, d, e, f)
    tiles: int  # number of stacked tiles


@dataclass(frozen=True)
class Manifest:
    satsr_version: str
    scale: int  # HR pixels per LR pixel along each axis
    bands: int  # band count of LR and HR tiles
    dtype: str  # native dtype of the tiles
    lr_tile: int  # LR tile size in px (HR tile = scale * lr_tile)
    normalisation: dict[str, Any]  # Normalisation.to_dict(), computed from the training tiles
    scenes: list[SceneRecord]
    tiles: list[TileRecord]
    degradation: dict[str, Any] | None = None  # parameters of the LR synthesis for degraded scenes
    settings: dict[str, Any] = field(default_factory=dict)  # every prepare option, for provenance
    report: dict[str, Any] = field(default_factory=dict)  # prepare's counts per scene and reason, shift stats

    @property
    def norm(self) -> Normalisation:
        return Normalisation.from_dict(self.normalisation)

    @property
    def zero_is_nodata(self) -> bool:
        """With --valid-fraction < 1, prepare zeroed invalid pixels in every band (else all are valid)."""
        return float(self.settings.get("valid_fraction", 1.0)) < 1.0

    def hr_valid(self, hr: np.ndarray) -> np.ndarray:
        """(H, W) validity of a (C, H, W) HR tile of this dataset."""
        return hr.any(axis=0) if self.zero_is_nodata else np.ones(hr.shape[1:], dtype=bool)

    def split(self, name: str) -> list[TileRecord]:
        return [t for t in self.tiles if t.split == name]


def scene_paths(root: Path, scene: str) -> tuple[Path, Path]:
    return root / "scenes" / f"{scene}_lr.npy", root / "scenes" / f"{scene}_hr.npy"


def save_manifest(root: Path, manifest: Manifest) -> None:
    (root / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1))


def load_manifest(root: str | Path) -> Manifest:
    root = Path(root)
    path = root / MANIFEST
    if not path.exists():
        raise DataError(f"{root}: not a satsr dataset (no {MANIFEST}); create one with `satsr prepare`")
    raw = json.loads(path.read_text())
    scenes = [SceneRecord(**{**s, "lr_transform": tuple(s["lr_transform"])}) for s in raw.pop("scenes")]
    tiles = [
        TileRecord(**{**t, "lr_window": tuple(t["lr_window"]), "bounds": tuple(t["bounds"])})
        for t in raw.pop("tiles")
    ]
    return Manifest(scenes=scenes, tiles=tiles, **raw)


def open_scene(root: str | Path, scene: str) -> tuple[np.ndarray, np.ndarray]:
    """Memory-mapped (LR, HR) tile stacks of one scene."""
    lr_path, hr_path = scene_paths(Path(root), scene)
    return np.load(lr_path, mmap_mode="r"), np.load(hr_path, mmap_mode="r")
