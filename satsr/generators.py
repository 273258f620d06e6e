"""The generator registry: the architecture name stored in every weights file -> the class that builds it.

A generator is an `nn.Module` whose class has `Spec` (a frozen `satsr.spec.Spec` dataclass with `bands` and
`scale` fields, stored in the weights) and whose instances have `spec` and `receptive_radius` (LR px of
context an output pixel depends on; tiles overlap at least this). It maps (N, bands, h, w) model-space
tensors to (N, bands, scale*h, scale*w). A new architecture is one model file plus one line below.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from satsr.models import Generator
from satsr.span import SpanGenerator
from satsr.spec import Spec

GENERATORS: dict[str, Any] = {
    "srresnet": Generator,  # satsr/models.py: residual trunk, pixel-shuffle x2 stages, bicubic skip
    "span": SpanGenerator,  # satsr/span.py: parameter-free attention blocks, one pixel shuffle, bicubic skip
}
DEFAULT_GENERATOR = "srresnet"


def generator_class(name: str) -> Any:
    """The class registered as `name`; ValueError (one line, listing the known names) otherwise."""
    if name not in GENERATORS:
        raise ValueError(f"architecture {name!r} is not one this satsr builds ({', '.join(GENERATORS)})")
    return GENERATORS[name]


def read_spec(name: str, data: dict[str, Any]) -> Spec:
    """The spec of architecture `name` from a dict (weights metadata, or a training config's fields)."""
    spec: Spec = generator_class(name).Spec.from_dict(data)
    return spec


def build_generator(name: str, spec: Spec) -> nn.Module:
    module: nn.Module = generator_class(name)(spec)
    return module


def generator_name(generator: nn.Module) -> str:
    """The registry name of a generator instance (what its weights file records)."""
    for exact in (True, False):
        for name, cls in GENERATORS.items():
            if type(generator) is cls if exact else isinstance(generator, cls):
                return name
    raise ValueError(f"{type(generator).__name__} is not a registered generator; add it to GENERATORS")
