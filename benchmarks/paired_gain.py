"""PSNR gain of one model over another on the same held-out places, with its 95 % interval.

    satsr evaluate psnr data/pairs --json new.json
    satsr evaluate weights/previous/satsr_x4_psnr_0.1.safetensors data/pairs --json old.json
    python benchmarks/paired_gain.py new.json old.json

`satsr evaluate` gives each model's gain over bicubic and lanczos with an interval; this compares two
models' reports of the same split (each keeps its PSNR error sums per place) with the same paired
bootstrap over whole places. A ship rule with margins of a few hundredths of a dB should read it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satsr.report import paired_psnr_interval  # noqa: E402


def sr_psnr(path: Path) -> tuple[float, dict[str, tuple[float, int]]]:
    psnr = json.loads(path.read_text())["scores"]["sr"]["psnr"]
    return float(psnr["overall"]), {k: (float(e), int(n)) for k, (e, n) in psnr["places"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="`satsr evaluate --json` report of model A")
    parser.add_argument("b", type=Path, help="report of model B on the same split")
    args = parser.parse_args()
    (psnr_a, places_a), (psnr_b, places_b) = sr_psnr(args.a), sr_psnr(args.b)
    if sorted(places_a) != sorted(places_b):
        sys.exit(f"{args.a} and {args.b}: not the same places; evaluate both on the same dataset split")
    low, high = paired_psnr_interval(places_a, places_b)
    print(f"{args.a.name} - {args.b.name}: {psnr_a - psnr_b:+.3f} dB, 95 % [{low:+.3f}, {high:+.3f}] "
          f"over {len(places_a)} places ({psnr_a:.3f} vs {psnr_b:.3f} dB)")  # fmt: skip


if __name__ == "__main__":
    main()
