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

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from satsr import SCALE, __version__
from satsr.errors import WeightsError
from satsr.models import Generator, GeneratorSpec, flush_denormals
from satsr.normalise import Normalisation
from satsr.outputs import atomic_output, first_line

# Short names for the shipped models; `satsr upscale` without --weights uses DEFAULT_WEIGHTS.
SHIPPED = {"gan": "satsr_x4_gan.safetensors", "psnr": "satsr_x4_psnr.safetensors",
           "pan": "satsr_x4_pan.safetensors"}  # fmt: skip
DEFAULT_WEIGHTS = "gan"
PAN_WEIGHTS = "pan"  # `satsr upscale` without --weights uses these when every scene has one data band
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
    """A short name (gan, psnr, pan), a .safetensors file, or a run directory (its model: `_run_model`)."""
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
        raise WeightsError(f"{path}: no such weights file; pass --weights gan|psnr|pan|FILE|RUN_DIR")
    return path


def _run_model(run_dir: Path) -> Path:
    """What a run made, chosen as the shipped pair is: the GAN once an adversarial phase has ended, else the
    best pixel-loss weights. (best.safetensors, the best val PSNR overall, is almost never the GAN.)"""
    final = run_dir / "final.safetensors"
    meta = _read_metadata(final) if final.exists() else None
    if isinstance(meta, dict) and meta.get("phase") == "adversarial":
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
        os.chmod(tmp, 0o666 & ~_umask())  # safetensors creates 0600; every other output follows the umask
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_weights(name: str | Path | None = None) -> LoadedWeights:
    """Load a generator by short name, file or run directory; metadata and tensors are checked first."""
    path = resolve_weights(name)
    meta = _read_metadata(path)
    spec, norm = checked_metadata(path, meta)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        cause = first_line(str(exc))
        raise WeightsError(f"{path}: not a satsr weights file ({cause}); {NOT_SATSR_HINT}") from None
    _check_tensors(path, spec, tensors)
    generator = Generator(spec)
    generator.load_state_dict(tensors)
    generator.eval()
    flush_denormals()  # inference on lightly trained weights is full of denormals
    return LoadedWeights(generator, norm, meta, path)


def checked_metadata(path: Path, meta: Any) -> tuple[GeneratorSpec, Normalisation]:
    """The architecture and normalisation a weights file declares, refused unless complete and sane."""
    bad = f"{path}: malformed satsr metadata"
    if not isinstance(meta, dict):
        raise WeightsError(f"{bad} (a JSON {type(meta).__name__}, not an object); {NOT_SATSR_HINT}")
    arch, norm = meta.get("architecture"), meta.get("normalisation")
    for key, value in (("architecture", arch), ("normalisation", norm)):
        if not isinstance(value, dict):
            raise WeightsError(f"{bad} ('{key}' missing or not an object); {NOT_SATSR_HINT}")
    assert isinstance(arch, dict) and isinstance(norm, dict)
    sizes = {k: arch.get(k) for k in ("bands", "features", "blocks", "scale")}
    wrong = [k for k, v in sizes.items() if type(v) is not int or not 1 <= v <= 4096]
    if wrong:
        value = sizes[wrong[0]]
        raise WeightsError(f"{bad} (architecture {wrong[0]} is {value!r}, not an integer in 1..4096)")
    if sizes["scale"] != SCALE:
        raise WeightsError(f"{path}: declares scale {sizes['scale']}; satsr generators upscale by {SCALE}")
    spec = GeneratorSpec(**sizes)  # type: ignore[arg-type]
    try:
        normalisation = Normalisation.from_dict(norm)
        np.dtype(normalisation.dtype)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{bad} (normalisation: {type(exc).__name__} {first_line(str(exc))})") from None
    low, high = np.array(normalisation.low), np.array(normalisation.high)
    if len(low) != spec.bands or len(high) != spec.bands:
        raise WeightsError(f"{bad} (normalisation for {len(low)}/{len(high)} bands, model of {spec.bands})")
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (high > low).all()):
        raise WeightsError(f"{bad} (normalisation needs finite low < high per band, got {norm})")
    return spec, normalisation


def _check_tensors(path: Path, spec: GeneratorSpec, tensors: dict[str, torch.Tensor]) -> None:
    """Every tensor the declared architecture needs, of its shape, finite; nothing else."""
    with torch.device("meta"):  # shapes only: a huge declared architecture allocates nothing
        expected = {k: tuple(v.shape) for k, v in Generator(spec).state_dict().items()}
    arch = f"bands {spec.bands}, features {spec.features}, blocks {spec.blocks}"
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has unexpected {extra[0]}"
        count = len(missing) + len(extra)
        raise WeightsError(f"{path}: tensors do not match the declared architecture ({arch}): {what} "
                           f"({count} names differ); {NOT_SATSR_HINT}")  # fmt: skip
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != shape:
            raise WeightsError(f"{path}: tensor {key} has shape {tuple(tensors[key].shape)} but the declared "
                               f"architecture ({arch}) needs {shape}; the file is inconsistent")  # fmt: skip
        if not torch.isfinite(tensors[key]).all():
            raise WeightsError(f"{path}: tensor {key} holds NaN or infinite values; the model diverged")


def _read_metadata(path: Path) -> Any:
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})[METADATA_KEY])
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError, TypeError) as exc:
        cause = f"{type(exc).__name__} {first_line(str(exc))}"
        raise WeightsError(f"{path}: not a satsr weights file ({cause}); {NOT_SATSR_HINT}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in weights metadata")
