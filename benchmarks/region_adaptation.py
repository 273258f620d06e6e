"""Adapting the shipped model to a region it never saw: fine-tune on some of its places, score the others.

    python benchmarks/region_adaptation.py ../shared/data [--work runs/adapt]    (~14 min on 2 CPU cores)

The shipped model's held-out regions are the NEON SJER site (dry savanna, degraded aerial) and Kathmandu
(real pairs); no place like either was in its training data. For each, with satsr's own commands:
1. `satsr prepare` the region alone, half of its places in the test split (SJER: 10 of its 20 plots by
   name; Kathmandu: half of its 4x4-tile blocks, chosen by the split's seed);
2. `satsr train <region> --init psnr --config weights/adapt_x4.toml` on the other half;
3. score the shipped `psnr` model and the adapted one on the same test tiles, beside lanczos, and the
   adapted one on the other region's test tiles too (what adapting costs elsewhere).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.evaluate import EvaluateOptions, evaluate_dataset  # noqa: E402

SATSR = [sys.executable, "-m", "satsr"]
CONFIG = ROOT / "weights" / "adapt_x4.toml"
SJER_TEST_PLOTS = "SJER_01[56],SJER_02*,SJER_04*"  # 10 of the 20 plots; the 10 lower numbers train


def prepare_args(data: Path) -> dict[str, list[str]]:
    """Per region, the `satsr prepare` arguments that split it into train/val and test places."""
    pairs = data / "pairs"
    return {
        "SJER": [
            "--degrade", *sorted(str(p) for p in (data / "aerial" / "neon").glob("SJER_*.tif")),
            "--stride", "32", "--valid-fraction", "0.99", "--block", "2", "--test-scenes", SJER_TEST_PLOTS,
        ],
        "Kathmandu": [
            str(pairs / "kathmandu_satellite_30cm.tif"), str(pairs / "kathmandu_aerial_7.5cm.tif"),
            "--block", "4", "--test", "0.5",
        ],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the shared data directory (pairs/, aerial/neon/)")
    parser.add_argument("--work", type=Path, default=Path("runs/adapt"))
    args = parser.parse_args()
    regions = {}
    for i, (region, prep) in enumerate(prepare_args(args.data).items()):
        dataset, run = args.work / f"data{i}", args.work / f"run{i}"
        _satsr("prepare", *prep, "--val", "0.1", "--seed", "1", "-o", str(dataset), "--overwrite")
        start = time.perf_counter()
        _satsr(
            "train", str(dataset), "-o", str(run), "--init", "psnr", "--config", str(CONFIG), "--overwrite"
        )
        minutes = (time.perf_counter() - start) / 60
        regions[region] = (dataset, run / "psnr.safetensors", minutes)
    options = EvaluateOptions(metrics=("psnr", "ssim"), split="test")
    print("| test places | model | PSNR dB | SSIM | PSNR - lanczos | SSIM - lanczos |")
    print("|---|---|---|---|---|---|")
    for region, (dataset, _, _) in regions.items():
        models = {"shipped psnr": "psnr"}
        models |= {f"adapted to {r} ({m:.1f} min)": str(w) for r, (_, w, m) in regions.items()}
        for label, weights in models.items():
            report = evaluate_dataset(weights, dataset, options)
            sr = report.scores["sr"]
            print(
                f"| {region} ({report.counts['tiles']} tiles) | {label} | {sr['psnr'].overall:.2f}"
                f" | {sr['ssim'].overall:.3f} | {report.gain('lanczos', 'psnr'):+.2f}"
                f" | {report.gain('lanczos', 'ssim'):+.3f} |"
            )


def _satsr(*argv: str) -> None:
    """Runs one satsr command quietly; on failure shows its output and stops."""
    done = subprocess.run([*SATSR, *argv], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"satsr {argv[0]} failed:\n{done.stdout}{done.stderr}")


if __name__ == "__main__":
    main()
