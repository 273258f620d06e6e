"""Scene discovery, one rule for every command: which scenes a directory holds, which to upscale and where
their outputs go (paths, directories, glob patterns and anything GDAL opens by name: URLs, /vsi paths),
and the scenes of `satsr prepare` (pairs or aerial rasters, their names, the held-out ones). No I/O
beyond listing files, so the CLI can use it before importing torch.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from satsr.errors import DataError, UsageError
from satsr.sources import Source, is_virtual, source_stem

T = TypeVar("T")
OUTPUT_SUFFIX = "_x4"  # SCENE.tif -> SCENE_x4.tif
RASTER_SUFFIXES = (".tif", ".tiff")  # what a directory is scanned for (case-insensitive)
# output names satsr refuses: it writes GeoTIFFs only (convert afterwards with gdal_translate / rio convert)
OTHER_RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".jp2", ".webp", ".gif", ".bmp", ".img", ".vrt", ".nc",
                         ".hdf", ".h5", ".kea", ".gpkg", ".mbtiles", ".bil", ".asc", ".xyz")  # fmt: skip


def collect_scenes(inputs: list[str]) -> list[Source]:
    """Expand paths, directories (their GeoTIFFs, outputs of earlier runs excluded) and glob patterns;
    URLs and /vsi paths are kept verbatim for GDAL.

    A path that does not exist is kept: its own upscale reports it, so the other scenes still run.
    """
    scenes: list[Source] = []
    for text in inputs:
        if is_virtual(text):
            scenes.append(text)
            continue
        path = Path(text)
        if path.is_dir():
            found = scene_files(path)
            if not found:
                raise UsageError(f"{path}: directory holds no .tif/.tiff scenes")
            scenes += found
        elif path.exists() or not glob.has_magic(text):
            scenes.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            if not matches:
                raise UsageError(f"{text}: pattern matches no files; check the path (quote it for satsr)")
            scenes += matches
    return list(dict.fromkeys(scenes))  # drop duplicates, keep order


def scene_files(directory: Path) -> list[Path]:
    """The GeoTIFF scenes of a directory, sorted: .tif/.tiff in any case, satsr's own outputs (*_x4.tif)
    left out. satsr's one rule for what a directory holds (upscale inputs, prepare --degrade rasters)."""
    return [p for p in sorted(directory.iterdir()) if _is_scene(p)]


def _is_scene(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in RASTER_SUFFIXES and not path.stem.endswith(OUTPUT_SUFFIX)


def output_paths(scenes: list[Source], output: Path | None) -> list[Path]:
    """SCENE_x4.tif beside each local scene (in the current folder for a URL), or in `output` when a
    directory; `output` itself for one scene. A non-GeoTIFF output name (out.png) is a usage error."""
    if output is not None and not output.is_dir() and output.suffix.lower() in OTHER_RASTER_SUFFIXES:
        raise UsageError(f"-o {output}: satsr writes GeoTIFFs; name the output .tif (convert it afterwards, "
                         f"e.g. gdal_translate -of PNG) or give a directory")  # fmt: skip
    if output is None:
        outs = [_beside(s) for s in scenes]
    elif output.is_dir() or output.suffix.lower() not in RASTER_SUFFIXES:
        outs = [output / f"{source_stem(s)}{OUTPUT_SUFFIX}.tif" for s in scenes]
    elif len(scenes) == 1:
        outs = [output]
    else:
        raise UsageError(f"-o {output}: {len(scenes)} scenes need an output directory, not a file name")
    clashes = sorted({str(o) for o in outs if outs.count(o) > 1})
    if clashes:
        raise UsageError(f"{clashes[0]}: several scenes would write this output; upscale them separately")
    return outs


def _beside(scene: Source) -> Path:
    """The default output of a scene: beside a local file, in the current folder for a URL."""
    name = f"{source_stem(scene)}{OUTPUT_SUFFIX}.tif"
    return scene.with_name(name) if isinstance(scene, Path) else Path(name)


def shard_of(pairs: list[T], shard: str | None) -> tuple[list[T], str | None]:
    """The pairs this process handles: every N-th from the K-th for `--shard K/N` (K from 1), else from
    torchrun's RANK/WORLD_SIZE (RANK from 0), else all. Every process sees the same list, so the shards
    are disjoint and cover it. Returns the share and a line saying which share it is (None for all)."""
    if shard is None:
        rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
        if rank is None or world is None or int(world) <= 1:
            return pairs, None
        index, count, how = int(rank), int(world), "RANK/WORLD_SIZE"
    else:
        k, sep, n = shard.partition("/")
        if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
            raise UsageError(f"--shard {shard}: expected K/N with 1 <= K <= N, e.g. --shard 2/8")
        index, count, how = int(k) - 1, int(n), "--shard"
    mine = pairs[index::count]
    return mine, f"{how}: shard {index + 1} of {count}, {len(mine)} of {len(pairs)} scenes"


# --- the scenes of `satsr prepare` ---------------------------------------------------------------------


@dataclass(frozen=True)
class SceneSource:
    name: str  # unique scene name (from the file stem)
    hr_path: Path  # aerial raster
    lr_path: Path | None  # satellite raster; None for a degraded (HR-only) scene


SUFFIX = re.compile(r"_(satellite|sat|aerial|hr|lr)(_.*)?$", re.IGNORECASE)


def scene_names(paths: list[Path]) -> list[str]:
    """Names from file stems without a trailing _satellite*/_aerial* part, made unique with _2, _3 ..."""
    names: list[str] = []
    for path in paths:
        base = SUFFIX.sub("", path.stem) or path.stem
        base = re.sub(r"[^\w.-]", "_", base)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def sources_for(inputs: list[Path], degraded: bool) -> list[SceneSource]:
    """Pairs (LR, HR, LR, HR ...) or aerial rasters (directories expand to their *.tif)."""
    if degraded:
        paths: list[Path] = []
        for p in inputs:
            found = scene_files(p) if p.is_dir() else [p]
            if p.is_dir() and not found:
                raise DataError(f"{p}: directory holds no .tif files; give aerial GeoTIFFs")
            paths.extend(found)
        return [SceneSource(n, p, None) for n, p in zip(scene_names(paths), paths, strict=True)]
    if not inputs or len(inputs) % 2:
        raise UsageError(
            f"got {len(inputs)} rasters: give pairs in SATELLITE AERIAL order, or --degrade for aerial only"
        )
    lrs, hrs = inputs[0::2], inputs[1::2]
    return [SceneSource(n, hr, lr) for n, lr, hr in zip(scene_names(lrs), lrs, hrs, strict=True)]


def held_out(sources: list[SceneSource], patterns: tuple[str, ...]) -> set[str]:
    names = [s.name for s in sources]
    out: set[str] = set()
    for pattern in patterns:
        hits = fnmatch.filter(names, pattern)
        if not hits:
            raise UsageError(
                f"--test-scenes {pattern!r} matches no scene; scene names are {', '.join(names)}"
            )
        out.update(hits)
    return out
