"""Upscale speed and size of the default weights against another weights file, in the same run.

    python benchmarks/bench_default.py --old OLD_gan.safetensors --old-precision fp32
    python benchmarks/bench_default.py --old OLD_gan.safetensors --repeats 5 --scene 1536
    python benchmarks/bench_default.py --new psnr --old psnr --old-precision auto --self-ensemble

Both models upscale the same scenes (the Paris example and a synthetic scene of --scene px) with
`upscale_file`, the default one in --precision (auto: bf16 where the CPU runs it natively), the other in
--old-precision; the best of --repeats runs after a warm-up is reported, in output MP/s, with the ratio
new / old (`--self-ensemble`: the new one runs as `satsr upscale --self-ensemble`, which the last example
weighs against the plain run). Also prints each file's parameters, size on disk and receptive radius.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_upscale import make_scene  # noqa: E402
from satsr.upscale import UpscaleOptions, upscale_file  # noqa: E402
from satsr.weights import LoadedWeights, load_weights  # noqa: E402


def best_mp_per_s(
    scene: Path, weights: LoadedWeights, precision: str, out: Path, repeats: int, self_ensemble: bool = False
) -> float:
    options = UpscaleOptions(precision=precision, self_ensemble=self_ensemble, overwrite=True)
    upscale_file(scene, out, weights, options)  # warm-up: oneDNN kernels, GDAL, page cache
    return max(upscale_file(scene, out, weights, options).output_mp_per_s for _ in range(repeats))


def describe(label: str, weights: LoadedWeights) -> str:
    spec, g = weights.generator.spec, weights.generator
    params = sum(p.numel() for p in g.parameters())
    size = weights.path.stat().st_size / 1e6
    return (
        f"{label}: {weights.path.name}, {spec.features}x{spec.blocks} {spec.upsampler}, "
        f"{params / 1e6:.2f} M parameters, {size:.1f} MB, receptive radius {g.receptive_radius} LR px"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", default="gan", help="weights (default: the shipped default, gan)")
    parser.add_argument("--old", required=True, help="weights to compare with")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--old-precision", default="fp32")
    parser.add_argument("--scene", type=int, default=1024, help="synthetic scene side, LR px")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--self-ensemble", action="store_true", help="run the new weights self-ensembled")
    args = parser.parse_args()
    new, old = load_weights(args.new), load_weights(args.old)
    print(describe("new", new))
    print(describe("old", old))
    with tempfile.TemporaryDirectory() as tmp:
        scenes = [ROOT / "examples" / "paris_rgb_30cm.tif", make_scene(Path(tmp) / "scene.tif", args.scene)]
        print("| scene | new MP/s | old MP/s | new / old |")
        print("|---|---|---|---|")
        for scene in scenes:
            out = Path(tmp) / "out.tif"
            a = best_mp_per_s(scene, new, args.precision, out, args.repeats, args.self_ensemble)
            b = best_mp_per_s(scene, old, args.old_precision, out, args.repeats)
            cells = f"{a:.2f} ({args.precision}) | {b:.2f} ({args.old_precision}) | {a / b:.2f}"
            print(f"| {scene.name} | {cells} |")


if __name__ == "__main__":
    main()
