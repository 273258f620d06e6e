"""Which scenes to upscale and where their outputs go: paths, directories and glob patterns. No I/O
beyond listing files, so the CLI can use it before importing torch."""

from __future__ import annotations

import glob
from pathlib import Path

from satsr.errors import UsageError

OUTPUT_SUFFIX = "_x4"  # SCENE.tif -> SCENE_x4.tif
RASTER_SUFFIXES = (".tif", ".tiff")  # what a directory is scanned for (case-insensitive)


def collect_scenes(inputs: list[str]) -> list[Path]:
    """Expand paths, directories (their GeoTIFFs, outputs of earlier runs excluded) and glob patterns.

    A path that does not exist is kept: its own upscale reports it, so the other scenes still run.
    """
    scenes: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = [p for p in sorted(path.iterdir()) if _is_scene(p)]
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


def _is_scene(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in RASTER_SUFFIXES and not path.stem.endswith(OUTPUT_SUFFIX)


def output_paths(scenes: list[Path], output: Path | None) -> list[Path]:
    """SCENE_x4.tif beside each scene, or in `output` when a directory; `output` itself for one scene."""
    if output is None:
        outs = [s.with_name(f"{s.stem}{OUTPUT_SUFFIX}.tif") for s in scenes]
    elif output.is_dir() or output.suffix.lower() not in RASTER_SUFFIXES:
        outs = [output / f"{s.stem}{OUTPUT_SUFFIX}.tif" for s in scenes]
    elif len(scenes) == 1:
        outs = [output]
    else:
        raise UsageError(f"-o {output}: {len(scenes)} scenes need an output directory, not a file name")
    clashes = sorted({str(o) for o in outs if outs.count(o) > 1})
    if clashes:
        raise UsageError(f"{clashes[0]}: several scenes would write this output; upscale them separately")
    return outs
