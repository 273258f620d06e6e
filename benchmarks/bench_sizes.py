"""The speed side of the generator-size trade-off: model-only upscale speed per size, in bf16.

    python benchmarks/bench_sizes.py [--sizes 32x8,48x16,64x8,64x16,96x16,64x24,span48x6] [--scene 1024]
        [--repeats 5]

For every size FxB (features x residual blocks of an srresnet with the shuffle-direct upsampler, or, as
spanFxB, features x attention blocks of a span generator; random weights, since speed does not depend on
the values) and for the 0.1 generator in fp32 (the speed a new default must not fall below):
the seconds `TileRunner.infer` takes for all the tiles `satsr upscale` cuts from a SCENE x SCENE px LR scene
(default tile and context), as output MP/s, and that speed over the 0.1 generator's in the same run. Run it
with OMP_NUM_THREADS=1 and taskset to compare with the one-core figures of the model card. The quality side
is `satsr evaluate` of runs trained with one recipe (weights/EXPERIMENTS.md, "Generator size at one recipe").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench_precision import timed  # noqa: E402
from satsr.inference import TileRunner  # noqa: E402
from satsr.models import flush_denormals  # noqa: E402
from satsr.precision import resolve_precision  # noqa: E402
from satsr.tiling import plan_tiles, tile_count  # noqa: E402
from satsr.upscale import UpscaleOptions  # noqa: E402
from satsr.weights import LoadedWeights, load_weights  # noqa: E402
from tests.support import save_tiny_weights, tiny_generator, tiny_span  # noqa: E402

BASELINE = ROOT / "weights" / "previous" / "satsr_x4_gan_0.1.safetensors"


def sized_weights(tmp: Path, size: str) -> LoadedWeights:
    """Weights of an srresnet "FxB" (shuffle-direct) or a span generator "spanFxB"."""
    features, blocks = (int(v) for v in size.removeprefix("span").split("x"))
    if size.startswith("span"):
        g = tiny_span(features=features, blocks=blocks, detail=0.02)
    else:
        g = tiny_generator(features=features, blocks=blocks, upsampler="shuffle-direct", detail=0.02)
    return load_weights(save_tiny_weights(tmp / f"{size}.safetensors", g))


def output_mp_per_s(weights: LoadedWeights, precision: str, scene: int, repeats: int) -> float:
    """Output MP/s of the model alone over every tile of a scene x scene LR scene (median of repeats,
    after a warm-up)."""
    runner = TileRunner(weights.generator, weights.normalisation, resolve_precision(precision, "cpu"))
    tile = UpscaleOptions().tile
    ctx = next(plan_tiles(scene, scene, tile, weights.generator.receptive_radius)).context
    x = np.random.default_rng(0).random((1, weights.generator.spec.bands, int(ctx.height), int(ctx.width)))
    x = x.astype(np.float32)
    seconds = timed(lambda: runner.infer(x), repeats) * tile_count(scene, scene, tile)
    return (4 * scene) ** 2 / 1e6 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32x8,48x16,64x8,64x16,96x16,64x24,span48x6")
    parser.add_argument("--scene", type=int, default=1024, help="LR scene side in px")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    flush_denormals()
    base = output_mp_per_s(load_weights(BASELINE), "fp32", args.scene, args.repeats)
    print(f"threads {torch.get_num_threads()}, LR scene {args.scene} px, tile {UpscaleOptions().tile} px")
    print("| generator | params | precision | output MP/s | vs 0.1 fp32 |")
    print("|---|---|---|---|---|")
    print(f"| 0.1 (32x8 x2-stages) | 0.23 M | fp32 | {base:.2f} | 1.00 |")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            weights = sized_weights(Path(tmp), size)
            params = sum(p.numel() for p in weights.generator.parameters()) / 1e6
            speed = output_mp_per_s(weights, "bf16", args.scene, args.repeats)
            name = size if size.startswith("span") else f"{size} shuffle-direct"
            print(f"| {name} | {params:.2f} M | bf16 | {speed:.2f} | {speed / base:.2f} |")


if __name__ == "__main__":
    main()
