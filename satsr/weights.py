"""Weights files: safetensors tensors plus JSON metadata (architecture, normalisation, provenance).

`WeightsMeta` is the metadata, typed; it is written (`to_dict`) and read and checked (`from_dict`) here
only. The stored architecture name picks the class from `satsr.generators.GENERATORS`, and its spec
(scale included) rebuilds it. No pickle: a weights file cannot run code when loaded.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from satsr import __version__
from satsr.errors import WeightsError
from satsr.generators import DEFAULT_GENERATOR, GENERATORS, build_generator, generator_name, read_spec
from satsr.models import flush_denormals
from satsr.normalise import Normalisation
from satsr.outputs import atomic_output, first_line
from satsr.rundir import FINAL, PSNR
from satsr.spec import Spec

# Short names for the shipped models; `satsr upscale` without --weights uses DEFAULT_WEIGHTS.
SHIPPED = {"gan": "satsr_x4_gan.safetensors", "psnr": "satsr_x4_psnr.safetensors",
           "pan": "satsr_x4_pan.safetensors"}  # fmt: skip
DEFAULT_WEIGHTS = "gan"
PAN_WEIGHTS = "pan"  # `satsr upscale` without --weights uses these when every scene has one data band
METADATA_KEY = "satsr"
NOT_SATSR_HINT = "pass a file written by satsr train"
MAX_SCALE = 16  # the largest upscaling factor a weights file may declare (a power of two)


@dataclass(frozen=True)
class WeightsMeta:
    """Everything a weights file stores beside its tensors. Provenance fields are None when absent."""

    architecture: str  # registry name (satsr.generators.GENERATORS)
    spec: Spec  # the architecture's sizes: bands and scale, and what the architecture adds
    normalisation: Normalisation  # native values -> model space
    satsr_version: str = __version__  # the satsr that wrote the file
    training: Any = None  # {"config", "command", "processes", "effective_batch", "precision"}
    datasets: Any = None  # provenance of each prepared dataset trained on
    val: Any = None  # the validation scores at export
    phase: Any = None  # "pretrain" or "adversarial"
    step: Any = None  # steps trained
    export: Any = None  # the run's file name (psnr/best/final.safetensors)
    lr_gsd_m: Any = None  # [lowest, highest] LR ground sample distance of the training scenes (m)
    extra: dict[str, Any] = field(default_factory=dict)  # anything else the writer stored, kept verbatim

    @property
    def scale(self) -> int:
        return int(self.spec.scale)  # type: ignore[attr-defined]

    @property
    def bands(self) -> int:
        return int(self.spec.bands)  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        provenance = {f: getattr(self, f) for f in PROVENANCE if getattr(self, f) is not None}
        architecture = {"name": self.architecture, **self.spec.to_dict()}
        norm, version = self.normalisation.to_dict(), self.satsr_version
        core = {"architecture": architecture, "normalisation": norm, "satsr_version": version}
        return {**provenance, **self.extra, **core}

    @classmethod
    def describing(
        cls, generator: nn.Module, normalisation: Normalisation, stored: dict[str, Any]
    ) -> WeightsMeta:
        """The metadata of `generator` saved now, with the provenance fields and extras in `stored`."""
        known = {k: v for k, v in stored.items() if k in PROVENANCE}
        extra = {k: v for k, v in stored.items() if k not in PROVENANCE and k not in CORE}
        spec: Spec = generator.spec  # type: ignore[assignment]
        return cls(generator_name(generator), spec, normalisation, __version__, **known, extra=extra)

    @classmethod
    def from_dict(cls, path: Path, meta: Any) -> WeightsMeta:
        """The metadata a file declares, refused (WeightsError, one line) unless complete and sane."""
        bad = f"{path}: malformed satsr metadata"
        if not isinstance(meta, dict):
            raise WeightsError(f"{bad} (a JSON {type(meta).__name__}, not an object); {NOT_SATSR_HINT}")
        arch, norm = meta.get("architecture"), meta.get("normalisation")
        for key, value in (("architecture", arch), ("normalisation", norm)):
            if not isinstance(value, dict):
                raise WeightsError(f"{bad} ('{key}' missing or not an object); {NOT_SATSR_HINT}")
        assert isinstance(arch, dict) and isinstance(norm, dict)
        name = arch.get("name", DEFAULT_GENERATOR)
        if name not in GENERATORS:
            raise WeightsError(f"{path}: architecture {name!r} is not one this satsr builds "
                               f"({', '.join(GENERATORS)}); upgrade satsr or pass other weights")  # fmt: skip
        try:
            spec = read_spec(name, arch)
        except ValueError as exc:
            raise WeightsError(f"{bad} ({exc})") from None
        scale = spec.scale  # type: ignore[attr-defined]
        if scale < 2 or scale & (scale - 1) or scale > MAX_SCALE:
            raise WeightsError(f"{path}: declares scale {scale}; satsr generators upscale by a power of two "
                               f"from 2 to {MAX_SCALE} (one x2 stage per factor of 2)")  # fmt: skip
        normalisation = _checked_normalisation(bad, norm, spec.bands)  # type: ignore[attr-defined]
        provenance = {k: meta[k] for k in PROVENANCE if k in meta}
        extra = {k: v for k, v in meta.items() if k not in PROVENANCE and k not in CORE}
        version = str(meta.get("satsr_version", "?"))
        return cls(name, spec, normalisation, version, **provenance, extra=extra)


CORE = ("architecture", "spec", "normalisation", "satsr_version", "extra")
PROVENANCE = tuple(f.name for f in fields(WeightsMeta) if f.name not in CORE)


@dataclass(frozen=True)
class LoadedWeights:
    generator: nn.Module  # in eval mode, on the CPU (a class of satsr.generators.GENERATORS)
    normalisation: Normalisation
    metadata: dict[str, Any]  # the stored JSON object (built by hand: the provenance to record)
    path: Path
    meta: WeightsMeta = None  # type: ignore[assignment]  # typed; when None, derived from the above

    def __post_init__(self) -> None:
        if self.meta is None:
            derived = WeightsMeta.describing(self.generator, self.normalisation, self.metadata)
            object.__setattr__(self, "meta", derived)

    @property
    def scale(self) -> int:
        """HR pixels per LR pixel along each axis."""
        return self.meta.scale


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
    final = run_dir / FINAL
    stored = _read_metadata(final) if final.exists() else None
    if isinstance(stored, dict) and stored.get("phase") == "adversarial":
        return final
    return run_dir / PSNR


def save_weights(
    path: str | Path, generator: nn.Module, normalisation: Normalisation, metadata: dict[str, Any]
) -> Path:
    """Write weights atomically; refuses non-finite tensors so that a diverged model is never saved.
    `metadata`: provenance (WeightsMeta's fields) and any other JSON-able values, stored verbatim."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"{path}: refusing to save non-finite weights ({bad[0]} ...); the run diverged")
    meta = WeightsMeta.describing(generator, normalisation, metadata).to_dict()
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
    meta = WeightsMeta.from_dict(path, _read_metadata(path))
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        cause = first_line(str(exc))
        raise WeightsError(f"{path}: not a satsr weights file ({cause}); {NOT_SATSR_HINT}") from None
    _check_tensors(path, meta, tensors)
    generator = build_generator(meta.architecture, meta.spec)
    generator.load_state_dict(tensors)
    generator.eval()
    flush_denormals()  # inference on lightly trained weights is full of denormals
    return LoadedWeights(generator, meta.normalisation, meta.to_dict(), path, meta)


def _checked_normalisation(bad: str, norm: dict[str, Any], bands: int) -> Normalisation:
    try:
        normalisation = Normalisation.from_dict(norm)
        np.dtype(normalisation.dtype)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{bad} (normalisation: {type(exc).__name__} {first_line(str(exc))})") from None
    low, high = np.array(normalisation.low), np.array(normalisation.high)
    if len(low) != bands or len(high) != bands:
        raise WeightsError(f"{bad} (normalisation for {len(low)}/{len(high)} bands, model of {bands})")
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (high > low).all()):
        raise WeightsError(f"{bad} (normalisation needs finite low < high per band, got {norm})")
    return normalisation


def _check_tensors(path: Path, meta: WeightsMeta, tensors: dict[str, torch.Tensor]) -> None:
    """Every tensor the declared architecture needs, of its shape, finite; nothing else."""
    with torch.device("meta"):  # shapes only: a huge declared architecture allocates nothing
        net = build_generator(meta.architecture, meta.spec)
        expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    arch = ", ".join(f"{k} {v}" for k, v in meta.spec.to_dict().items())
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
