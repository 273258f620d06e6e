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

    @property
    def lr_origin(self) -> tuple[int, int]:
        """(row, col) of the tile's top-left pixel on the scene's LR grid."""
        return self.lr_window[1], self.lr_window[0]


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
    """The manifest of a prepared dataset, refused in one line when corrupt or inconsistent."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise DataError(f"{root}: not a satsr dataset (no {MANIFEST}); create one with `satsr prepare`")
    try:
        raw = json.loads(path.read_text())
        scenes = [SceneRecord(**{**s, "lr_transform": tuple(s["lr_transform"])}) for s in raw.pop("scenes")]
        tiles = [
            TileRecord(**{**t, "lr_window": tuple(t["lr_window"]), "bounds": tuple(t["bounds"])})
            for t in raw.pop("tiles")
        ]
        manifest = Manifest(scenes=scenes, tiles=tiles, **raw)
        manifest.norm  # noqa: B018 (parses the normalisation)
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        cause = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        raise DataError(f"{path}: corrupt manifest ({cause}); prepare the dataset again") from None
    _check_manifest(path, manifest)
    return manifest


def _check_manifest(path: Path, m: Manifest) -> None:
    """Fields within range and every tile pointing at a row of its scene's stacks."""
    counts = {s.name: s.tiles for s in m.scenes}
    try:
        np.dtype(m.dtype)
        ok = all(isinstance(v, int) and v >= 1 for v in (m.scale, m.bands, m.lr_tile)) and len(counts) == len(
            m.scenes
        )
    except TypeError:
        ok = False
    bad = next(
        (t for t in m.tiles if t.split not in SPLITS or not 0 <= t.index < counts.get(t.scene, 0)), None
    )
    if not ok or bad is not None:
        what = f"tile {bad}" if bad is not None else "scale/bands/lr_tile/dtype or scene names"
        raise DataError(f"{path}: inconsistent manifest ({what}); prepare the dataset again")


def check_arrays(root: str | Path, manifest: Manifest) -> None:
    """Every scene's stacks exist and hold the shape and dtype the manifest declares (headers only)."""
    t, c, s = manifest.lr_tile, manifest.bands, manifest.scale
    for scene in manifest.scenes:
        lr, hr = open_scene(root, scene.name)
        for arr, path, side in zip((lr, hr), scene_paths(Path(root), scene.name), (t, t * s), strict=True):
            want = (scene.tiles, c, side, side)
            if arr.shape != want or arr.dtype != np.dtype(manifest.dtype):
                raise DataError(f"{path}: holds {arr.dtype} {arr.shape} but the manifest declares "
                                f"{manifest.dtype} {want}; prepare the dataset again")  # fmt: skip


def open_scene(root: str | Path, scene: str) -> tuple[np.ndarray, np.ndarray]:
    """Memory-mapped (LR, HR) tile stacks of one scene."""
    paths = scene_paths(Path(root), scene)
    arrays = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: missing from the dataset; prepare the dataset again")
        try:
            arrays.append(np.load(path, mmap_mode="r"))
        except (ValueError, OSError, EOFError) as exc:  # truncated: "mmap length is greater than file size"
            cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{path}: truncated or corrupt ({cause}); prepare the dataset again") from None
    return arrays[0], arrays[1]
