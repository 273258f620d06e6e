"""Throughput and peak memory of `satsr upscale` (streaming tiled inference) on synthetic scenes.

    nice -n 10 python benchmarks/bench_upscale.py            # everything (~5 min on 2 CPU cores)
    python benchmarks/bench_upscale.py --large 4096          # 16x the pixels instead of 9x (~4 min more)
    python benchmarks/bench_upscale.py --quick               # smaller scenes, for a smoke run

1. Speed: output MP/s of the streaming pipeline (read, tile, infer, write a compressed GeoTIFF) with the
   default architecture (GeneratorSpec(), random weights: speed does not depend on the values), against
   the baseline of one untiled forward pass over the same scene held in memory (no I/O, no tiling).
2. Memory: peak RSS of a fresh process upscaling square scenes of two sizes >= 8x apart in pixels. The
   large size uses a tiny generator (features=8, blocks=1) so that it finishes in about a minute on this
   CPU; a second pair with the default architecture uses smaller sizes. Flat = ratio close to 1.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_scene(path: Path, size: int) -> Path:
    """A smooth RGB uint8 GeoTIFF written in row strips (the benchmark never holds the scene either)."""
    import rasterio
    from rasterio.windows import Window

    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": rasterio.Affine(0.3, 0, 5e5, 0, -0.3, 4e6),
               "tiled": True, "compress": "deflate"}  # fmt: skip
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            h = min(512, size - row)
            y, x = np.mgrid[row : row + h, 0:size]
            img = [
                127 + 90 * np.sin(x / 7.0 + c) * np.cos(y / 11.0) + rng.normal(0, 8, x.shape)
                for c in range(3)
            ]
            dst.write(np.clip(np.stack(img), 0, 255).astype(np.uint8), window=Window(0, row, size, h))
    return path


def save_model(path: Path, arch: str) -> Path:
    from tests.support import save_tiny_weights, tiny_generator

    sizes = {"features": 32, "blocks": 8} if arch == "default" else {}  # default: GeneratorSpec()'s
    generator = tiny_generator(detail=0.02, **sizes)
    return save_tiny_weights(path, generator, metadata={"name": f"bench-{arch}"})


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return float(status["VmRSS"].split()[0]) / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(scene: Path, weights: Path, out: Path, tile: int, baseline: bool) -> dict:
    """Runs in a fresh process: upscale once, report speed and memory as JSON."""
    import torch

    from satsr.upscale import UpscaleOptions, upscale_file
    from satsr.weights import load_weights

    loaded = load_weights(weights)
    before, _ = rss_mb()
    result = upscale_file(scene, out, loaded, UpscaleOptions(tile=tile, overwrite=True))
    report = {"mp_per_s": result.output_mp_per_s, "seconds": result.seconds, "rss_before_mb": before,
              "peak_rss_mb": rss_mb()[1], "hr_mp": result.hr_size[0] * result.hr_size[1] / 1e6}  # fmt: skip
    if baseline:  # one untiled forward pass over the whole scene, in memory
        import rasterio

        with rasterio.open(scene) as ds:
            x = torch.from_numpy(loaded.normalisation.forward(ds.read()))[None]
        start = time.perf_counter()
        with torch.inference_mode():
            loaded.generator(x)
        report["untiled_mp_per_s"] = report["hr_mp"] / (time.perf_counter() - start)
    return report


def measure(scene: Path, weights: Path, tile: int, baseline: bool = False) -> dict:
    out = scene.with_name(scene.stem + "_x4.tif")
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(scene),
        str(weights),
        str(out),
        str(tile),
        str(int(baseline)),
    ]
    result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    out.unlink()
    return result


def memory_pair(tmp: Path, arch: str, sizes: tuple[int, int], tile: int) -> None:
    weights = save_model(tmp / f"{arch}.safetensors", arch)
    rows = []
    for size in sizes:
        r = measure(make_scene(tmp / f"scene{size}.tif", size), weights, tile)
        rows.append(r)
        line = f"  {arch:7s} LR {size:5d}^2 -> {r['hr_mp']:7.1f} MP out: {r['mp_per_s']:6.2f} MP/s, "
        line += f"RSS after model load {r['rss_before_mb']:6.0f} MB, peak {r['peak_rss_mb']:6.0f} MB"
        print(line, flush=True)
    pixels = (sizes[1] / sizes[0]) ** 2
    print(
        f"  -> {pixels:.0f}x the pixels, peak RSS ratio {rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller scenes (smoke run)")
    parser.add_argument("--tile", type=int, default=256, help="LR tile side")
    parser.add_argument("--large", type=int, default=3072, help="large LR side for the tiny model (>= 2896)")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, tile {args.tile}, batch 1 (CPU)")
    with tempfile.TemporaryDirectory(prefix="bench_upscale_") as tmpdir:
        tmp = Path(tmpdir)
        speed_size = 192 if args.quick else 384
        print(f"1. speed, default architecture (GeneratorSpec()), LR {speed_size}^2:")
        r = measure(make_scene(tmp / "speed.tif", speed_size), save_model(tmp / "d.safetensors", "default"),
                    args.tile, baseline=True)  # fmt: skip
        ratio = r["mp_per_s"] / r["untiled_mp_per_s"]
        line = f"  streaming {r['mp_per_s']:.3f} output MP/s ({r['seconds']:.1f} s, {r['hr_mp']:.1f} MP); "
        print(line + f"untiled in-memory forward {r['untiled_mp_per_s']:.3f} MP/s; ratio {ratio:.2f}")
        print("2. peak RSS at two scene sizes (fresh process each):")
        memory_pair(tmp, "tiny", (256, 768) if args.quick else (1024, args.large), args.tile)
        if not args.quick:  # both sizes >= one tile, so the tile shape is the same at both
            memory_pair(tmp, "default", (256, 768), args.tile)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--child":
        scene, weights, out, tile, baseline = sys.argv[2:]
        print(json.dumps(child(Path(scene), Path(weights), Path(out), int(tile), baseline == "1")))
    else:
        main()
