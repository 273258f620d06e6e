"""Check that unflagged black fill yields no tiles: the fill pixels inside every kept tile of a scene.

    python benchmarks/fill_check.py data/aerial oam_10cm_partial

Rebuilds the scene's fill mask with prepare's rule (satsr.pairs.FillRule, on the whole raster: this check
is for rasters that fit in memory) and prints, per split, how many kept tiles contain fill pixels, beside
the number of tile positions that lie wholly or partly on the fill.
"""

from __future__ import annotations

import argparse

from rasterio.windows import Window

from satsr.manifest import load_manifest
from satsr.pairs import FillRule
from satsr.raster import open_raster, read_window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("scene")
    args = parser.parse_args()
    manifest = load_manifest(args.dataset)
    scene = next(s for s in manifest.scenes if s.name == args.scene)
    rule = FillRule(**{k: v for k, v in manifest.settings["fill"].items()})
    with open_raster(scene.hr_source) as src:
        data, valid = read_window(src, Window(0, 0, src.width, src.height), list(range(1, src.count + 1)))
    fill = rule.invalid(data, valid)
    s, t = manifest.scale, manifest.lr_tile
    stride = manifest.settings["stride"] or t
    print(f"{scene.hr_source}: {fill.mean():.1%} of the pixels are fill ({int(fill.sum())} px)")
    touched = sum(
        fill[row * s : (row + t) * s, col * s : (col + t) * s].any()
        for row in range(0, fill.shape[0] // s - t + 1, stride)
        for col in range(0, fill.shape[1] // s - t + 1, stride)
    )
    print(f"tile positions touching the fill: {touched}")
    for split in ("train", "val", "test"):
        tiles = [x for x in manifest.split(split) if x.scene == scene.name]
        counts = [
            int(fill[r * s : (r + h) * s, c * s : (c + w) * s].sum())
            for c, r, w, h in (x.lr_window for x in tiles)
        ]
        worst, hit = max(counts, default=0), sum(n > 0 for n in counts)
        print(f"{split:5s}: {len(tiles):4d} kept tiles, {hit} contain fill (max {worst} px)")


if __name__ == "__main__":
    main()
