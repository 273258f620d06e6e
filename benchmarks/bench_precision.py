"""fp32 vs bf16 (autocast + channels_last): upscale throughput, model efficiency, training steps, memory.

    python benchmarks/bench_precision.py            # everything (~8 min on 2 CPU cores)
    python benchmarks/bench_precision.py --quick    # smaller scene, fewer repeats (smoke run)

All figures come from this one run on this machine, so every ratio compares like with like:
1. Upscale, for the shipped generator (`gan`) and a 64x16 SRResNet (random weights: speed does not depend
   on the values): output MP/s of `upscale_file` on a synthetic RGB scene, the pure model time for the
   same tiles (TileRunner.infer on every tile, no I/O), end-to-end / model, and the model's achieved
   GFLOP/s beside a plain 3x3 convolution of the trunk's width on one tile in the same precision (the
   practical roofline of this CPU). "before" is fp32 with the pipeline's stages run serially and the
   unfolded generator graph: what satsr ran before the precision policy, the threaded pipeline and the
   inference folding; "now" is the current code.
2. Training: ms per step (median) of pixel pretraining and of the adversarial step (D + G update), batch
   16, 96 px HR crops, satsr's own step functions, for both sizes.
3. Memory: peak RSS of a fresh process upscaling scenes of two sizes 9x apart in pixels, per precision.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.bench_upscale import make_scene  # noqa: E402
from satsr.config import TrainConfig  # noqa: E402
from satsr.gan import adversarial_step, build_nets, pretrain_step  # noqa: E402
from satsr.inference import TileRunner  # noqa: E402
from satsr.models import Generator, flush_denormals  # noqa: E402
from satsr.precision import resolve_precision  # noqa: E402
from satsr.tiling import plan_tiles, tile_count  # noqa: E402
from satsr.upscale import UpscaleOptions, upscale_file  # noqa: E402
from satsr.weights import LoadedWeights, load_weights  # noqa: E402
from tests.support import InlineExecutor, save_tiny_weights, tiny_generator  # noqa: E402

PRECISIONS = ("fp32", "bf16")


def big_generator(tmp: Path) -> LoadedWeights:
    """A 64x16 SRResNet (the SRGAN paper's size) with a non-zero tail, saved and loaded like any weights."""
    g = tiny_generator(features=64, blocks=16, detail=0.02)
    path = tmp / "srresnet64x16.safetensors"
    return load_weights(save_tiny_weights(path, g, metadata={"name": "bench-64x16"}))


def conv_flops(generator: Generator, shape: tuple[int, ...]) -> float:
    """FLOPs (2 x MACs) of the generator's convolutions on one input of `shape`."""
    total = 0.0

    def count(module: nn.Module, _inputs: Any, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += 2.0 * k * out.numel()

    hooks = [m.register_forward_hook(count) for m in generator.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        generator(torch.rand(shape))
    for h in hooks:
        h.remove()
    return total


def timed(fn: Any, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up (oneDNN builds its kernels on first use)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def unfolded(self: Generator, feat: torch.Tensor) -> torch.Tensor:
    """The generator's training graph (no inference folding): what eval mode ran before."""
    return self.tail(self.upsample(feat))


@contextlib.contextmanager
def as_before() -> Iterator[None]:
    """Serial pipeline stages and the unfolded generator graph: how satsr upscaled before."""
    with mock.patch("satsr.upscale.ThreadPoolExecutor", lambda workers: InlineExecutor()), \
            mock.patch.object(Generator, "_folded_last_stage", unfolded):  # fmt: skip
        yield


def upscale_row(scene: Path, weights: LoadedWeights, precision: str, out: Path) -> dict:
    options = UpscaleOptions(precision=precision, overwrite=True)
    upscale_file(scene, out, weights, options)  # warm-up: oneDNN kernels, GDAL, page cache
    result = upscale_file(scene, out, weights, options)
    return {"mp_per_s": result.output_mp_per_s, "seconds": result.seconds, "tiles": result.tiles}


def model_row(weights: LoadedWeights, lr_side: int, precision: str, repeats: int) -> dict:
    """Pure model seconds for all tiles of the scene, and GFLOP/s of the model and of the roofline conv."""
    chosen = resolve_precision(precision, "cpu")
    runner = TileRunner(weights.generator, weights.normalisation, chosen)
    margin = weights.generator.receptive_radius
    ctx = next(plan_tiles(lr_side, lr_side, UpscaleOptions().tile, margin)).context
    shape = (1, weights.generator.spec.bands, int(ctx.height), int(ctx.width))
    x = torch.rand(shape).numpy()
    per_tile = timed(lambda: runner.infer(x), repeats)
    tiles = tile_count(lr_side, lr_side, UpscaleOptions().tile)
    flops = conv_flops(weights.generator.float().to(memory_format=torch.contiguous_format), shape)
    width = weights.generator.spec.features
    conv = chosen.prepare(nn.Conv2d(width, width, 3, padding=1))
    feat = chosen.tensor(torch.rand(1, width, *shape[2:]))

    def plain() -> None:
        with torch.inference_mode(), chosen.autocast():
            conv(feat)

    roof = 2.0 * width * width * 9 * shape[2] * shape[3] / timed(plain, repeats)
    return {"model_s": per_tile * tiles, "gflops": flops / per_tile / 1e9, "roof_gflops": roof / 1e9}


def section_upscale(tmp: Path, lr_side: int, repeats: int) -> None:
    scene = make_scene(tmp / "scene.tif", lr_side)
    out = tmp / "out.tif"
    print(f"1. upscale, LR {lr_side}^2 -> {4 * lr_side}^2 ({(4 * lr_side) ** 2 / 1e6:.1f} MP), batch 1, "
          f"tile {UpscaleOptions().tile}")  # fmt: skip
    print("| generator | precision | code | output MP/s | vs before | model s | end-to-end / model "
          "| model GFLOP/s | plain conv GFLOP/s | model / conv |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, weights in (("shipped gan 32x8", load_weights("gan")), ("SRResNet 64x16", big_generator(tmp))):
        with as_before():
            before = upscale_row(scene, weights, "fp32", out), model_row(weights, lr_side, "fp32", repeats)
        rows = [("fp32", "before", *before)]
        rows += [(p, "now", upscale_row(scene, weights, p, out), model_row(weights, lr_side, p, repeats))
                 for p in PRECISIONS]  # fmt: skip
        for precision, pipeline, row, m in rows:
            speedup = row["mp_per_s"] / before[0]["mp_per_s"]
            cells = (f"{row['mp_per_s']:.2f}", f"{speedup:.2f}x", f"{m['model_s']:.2f}",
                     f"{row['seconds'] / m['model_s']:.2f}", f"{m['gflops']:.0f}", f"{m['roof_gflops']:.0f}",
                     f"{m['gflops'] / m['roof_gflops']:.0%}")  # fmt: skip
            print(f"| {name} | {precision} | {pipeline} | {' | '.join(cells)} |", flush=True)


def step_ms(features: int, blocks: int, precision: str, phase: str, repeats: int) -> float:
    cfg = TrainConfig(features=features, blocks=blocks, precision=precision)
    chosen = resolve_precision(precision, "cpu")
    torch.manual_seed(0)
    nets = build_nets(cfg, 3, chosen, world=1)
    lr, hr = chosen.tensor(torch.rand(16, 3, 24, 24)), chosen.tensor(torch.rand(16, 3, 96, 96))
    batch = (lr, hr, torch.ones(16, 96, 96, dtype=torch.bool))
    if phase == "pretrain":
        return 1e3 * timed(lambda: pretrain_step(nets, batch, cfg, chosen.autocast), repeats)
    return 1e3 * timed(lambda: adversarial_step(nets, batch, cfg, 1e-3, chosen.autocast), repeats)


def section_training(repeats: int) -> None:
    print("\n2. training step, batch 16, 96 px HR crops (ms, median)")
    print("| generator | phase | fp32 | bf16 | fp32 / bf16 |")
    print("|---|---|---|---|---|")
    for features, blocks in ((32, 8), (64, 16)):
        for phase in ("pretrain", "adversarial"):
            ms = {p: step_ms(features, blocks, p, phase, repeats) for p in PRECISIONS}
            print(f"| {features}x{blocks} | {phase} | {ms['fp32']:.0f} | {ms['bf16']:.0f} | "
                  f"{ms['fp32'] / ms['bf16']:.2f}x |", flush=True)  # fmt: skip


def child(scene: str, out: str, precision: str) -> None:
    """Fresh process: upscale once with the shipped weights, print peak RSS as JSON."""
    options = UpscaleOptions(precision=precision, overwrite=True)
    result = upscale_file(Path(scene), Path(out), load_weights("gan"), options)
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "hr_mp": result.hr_size[0] * result.hr_size[1] / 1e6}))


def peak_rss_mb() -> float:
    """VmHWM: this process's peak RSS since exec (ru_maxrss would carry the forking parent's over)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return float(status["VmHWM"].split()[0]) / 1024


def section_memory(tmp: Path, sizes: tuple[int, int]) -> None:
    print(f"\n3. peak RSS of a fresh upscale process (shipped gan), LR {sizes[0]}^2 vs {sizes[1]}^2")
    scenes = [make_scene(tmp / f"mem{s}.tif", s) for s in sizes]
    for precision in PRECISIONS:
        peaks = []
        for scene in scenes:
            cmd = [sys.executable, __file__, "--child", str(scene), str(tmp / "mem_out.tif"), precision]
            peaks.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
        print(f"  {precision}: {peaks[0]['hr_mp']:.0f} MP -> {peaks[0]['peak_rss_mb']:.0f} MB, "
              f"{peaks[1]['hr_mp']:.0f} MP -> {peaks[1]['peak_rss_mb']:.0f} MB, "
              f"ratio {peaks[1]['peak_rss_mb'] / peaks[0]['peak_rss_mb']:.2f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller scene and fewer repeats (smoke run)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    flush_denormals()
    native = resolve_precision("auto", "cpu").describe()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; --precision auto here: {native}")
    repeats = 2 if args.quick else 4
    with tempfile.TemporaryDirectory(prefix="bench_precision_") as tmpdir:
        tmp = Path(tmpdir)
        section_upscale(tmp, 256 if args.quick else 768, repeats)
        section_training(repeats)
        section_memory(tmp, (256, 768) if args.quick else (512, 1536))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
