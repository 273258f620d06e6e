"""Cost of `satsr evaluate`: dataset mode against the model-inference baseline, raster-mode memory.

    nice -n 10 python benchmarks/bench_evaluate.py [DATASET] [--weights FILE] [--quick: smaller rasters]

1. Dataset mode (DATASET, default data/pairs, test split): wall time of the full evaluation (model,
   bicubic, lanczos, every metric) against the baseline of running the generator alone over the same
   tiles in the same batches, and of the evaluation with only psnr,mse. Ratios say what scoring costs.
   Without --weights the default architecture at initialisation is used (speed does not depend on values).
2. Raster mode: peak RSS of a fresh process scoring --sr/--hr/--lr rasters of two sizes 9x apart in
   pixels (all metrics, synthetic smooth scenes): flat means streaming, not whole-raster loads. Growth
   up to the fixed GDAL block cache (satsr.raster.GDAL_CACHE_MB = 128 MiB) is expected: with
   it set to 8 MiB, 1024 px -> 3072 px measured 348 -> 360 MiB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def dataset_timings(dataset: Path, weights: Path) -> None:
    from satsr.baselines import run_generator
    from satsr.evaluate import EvaluateOptions, evaluate_dataset
    from satsr.manifest import load_manifest, open_scene
    from satsr.weights import load_weights

    manifest, loaded = load_manifest(dataset), load_weights(weights)
    tiles = manifest.split("test")
    start = time.perf_counter()
    for scene in sorted({t.scene for t in tiles}):
        lr_stack, _ = open_scene(dataset, scene)
        rows = [t.index for t in tiles if t.scene == scene]
        for b in range(0, len(rows), 8):
            run_generator(loaded.generator, loaded.normalisation, np.asarray(lr_stack[rows[b : b + 8]]))
    model_only = time.perf_counter() - start
    full = evaluate_dataset(weights, dataset, EvaluateOptions()).seconds
    light = evaluate_dataset(weights, dataset, EvaluateOptions(metrics=("psnr", "mse"))).seconds
    n = len(tiles)
    print(f"dataset {dataset} test split: {n} tiles of {manifest.lr_tile * 4} HR px, weights {weights.name}")
    print(f"  model only (baseline)        {model_only:7.1f} s  {n / model_only:6.2f} tiles/s")
    print(f"  evaluate, all metrics        {full:7.1f} s  {n / full:6.2f} tiles/s  x{full / model_only:.2f}")
    print(
        f"  evaluate, psnr,mse only      {light:7.1f} s  {n / light:6.2f} tiles/s  x{light / model_only:.2f}"
    )


def write_raster(path: Path, data: np.ndarray, res: float) -> Path:
    import rasterio

    c, h, w = data.shape
    profile = {"driver": "GTiff", "width": w, "height": h, "count": c, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": rasterio.Affine(res, 0, 5e5, 0, -res, 4e6),
               "tiled": True, "compress": "deflate"}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def raster_memory(tmp: Path, sizes: tuple[int, int]) -> None:
    from scipy.ndimage import zoom

    rng = np.random.default_rng(0)
    peaks = []
    for size in sizes:
        lr = (rng.random((3, size // 4, size // 4)) * 255).astype(np.uint8)
        hr = zoom(lr, (1, 4, 4), order=1)
        sr = np.clip(hr.astype(int) + rng.integers(-3, 4, hr.shape), 0, 255).astype(np.uint8)
        paths = [write_raster(tmp / f"{n}{size}.tif", a, r) for n, a, r in
                 (("lr", lr, 0.3), ("hr", hr, 0.075), ("sr", sr, 0.075))]  # fmt: skip
        del lr, hr, sr
        code = ("import resource, sys; from satsr.evaluate_raster import evaluate_rasters; "
                "r = evaluate_rasters(sys.argv[3], sys.argv[2], sys.argv[1]); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r.seconds)")  # fmt: skip
        out = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
        peaks.append(int(out[0]) / 1024)
        print(f"  raster {size}x{size} HR px: peak RSS {peaks[-1]:6.0f} MiB, {float(out[1]):6.1f} s")
    print(f"  pixels x{(sizes[1] / sizes[0]) ** 2:.0f} -> peak RSS x{peaks[1] / peaks[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", nargs="?", default=str(ROOT / "data" / "pairs"))
    parser.add_argument("--weights", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(args.weights) if args.weights else _init_weights(Path(tmp) / "init.safetensors")
        if (Path(args.dataset) / "manifest.json").exists():
            dataset_timings(Path(args.dataset), weights)
        else:
            print(json.dumps({"skipped": f"{args.dataset}: no prepared dataset"}))
        raster_memory(Path(tmp), (512, 1536) if args.quick else (1024, 3072))


def _init_weights(path: Path) -> Path:
    from tests.support import save_tiny_weights, tiny_generator

    return save_tiny_weights(path, tiny_generator(seed=None, features=32, blocks=8), metadata={})


if __name__ == "__main__":
    main()
