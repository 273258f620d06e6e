"""Weights files: safetensors tensors plus JSON metadata (architecture, normalisation, provenance).

No pickle: a weights file cannot run code when loaded.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from satsr import __version__
from satsr.errors import WeightsError
from satsr.models import Generator, GeneratorSpec, flush_denormals
from satsr.normalise import Normalisation
from satsr.raster import atomic_output

# Short names for the shipped models; `satsr upscale` without --weights uses DEFAULT_WEIGHTS.
SHIPPED = {"gan": "satsr_x4_gan.safetensors", "psnr": "satsr_x4_psnr.safetensors"}
DEFAULT_WEIGHTS = "gan"
METADATA_KEY = "satsr"
NOT_SATSR_HINT = "pass a file written by satsr train"


@dataclass(frozen=True)
class LoadedWeights:
    generator: Generator  # in eval mode, on the CPU
    normalisation: Normalisation
    metadata: dict[str, Any]  # everything stored beside the tensors
    path: Path


def shipped_weights_dir() -> Path:
    """The shipped weights installed with the package (in a checkout, a link to `weights/`), or
    $SATSR_WEIGHTS_DIR."""
    return Path(os.environ.get("SATSR_WEIGHTS_DIR", Path(__file__).resolve().parent / "_weights"))


def resolve_weights(name: str | Path | None) -> Path:
    """A short name (gan, psnr), a .safetensors file, or a run directory (its model, see `_run_model`)."""
    name = DEFAULT_WEIGHTS if name is None else name
    if str(name) in SHIPPED:
        path = shipped_weights_dir() / SHIPPED[str(name)]
        if not path.exists():
            hint = "reinstall satsr or pass --weights FILE"
            raise WeightsError(f"{path}: shipped weights '{name}' are missing; {hint}")
        return path
    path = Path(name)
    if path.is_dir():
        path = _run_model(path)
    if not path.exists():
        raise WeightsError(f"{path}: no such weights file; pass --weights gan|psnr|FILE|RUN_DIR")
    return path


def _run_model(run_dir: Path) -> Path:
    """What a run made, chosen as the shipped pair is: the GAN once an adversarial phase has ended, else the
    best pixel-loss weights. (best.safetensors, the best val PSNR overall, is almost never the GAN.)"""
    final = run_dir / "final.safetensors"
    if final.exists() and _read_metadata(final).get("phase") == "adversarial":
        return final
    return run_dir / "psnr.safetensors"


def save_weights(
    path: str | Path, generator: Generator, normalisation: Normalisation, metadata: dict[str, Any]
) -> Path:
    """Write weights atomically; refuses non-finite tensors so that a diverged model is never saved."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"{path}: refusing to save non-finite weights ({bad[0]} ...); the run diverged")
    meta = {
        **metadata,
        "architecture": {"name": "srresnet", **generator.spec.to_dict()},
        "normalisation": normalisation.to_dict(),
        "satsr_version": __version__,
    }
    path = Path(path)
    with atomic_output(path, overwrite=True) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta, default=_jsonable)})
    return path


def load_weights(name: str | Path | None = None) -> LoadedWeights:
    """Load a generator by short name, file or run directory."""
    path = resolve_weights(name)
    meta = _read_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path}: not a satsr weights file ({exc}); {NOT_SATSR_HINT}") from None
    arch = meta["architecture"]
    spec = GeneratorSpec(**{k: int(arch[k]) for k in ("bands", "features", "blocks", "scale")})
    generator = Generator(spec)
    try:
        generator.load_state_dict(tensors)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: tensors do not match the stored architecture ({exc})") from None
    generator.eval()
    flush_denormals()  # inference on lightly trained weights is full of denormals
    return LoadedWeights(generator, Normalisation.from_dict(meta["normalisation"]), meta, path)


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})[METADATA_KEY])
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as exc:
        raise WeightsError(f"{path}: not a satsr weights file ({exc}); {NOT_SATSR_HINT}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in weights metadata")
