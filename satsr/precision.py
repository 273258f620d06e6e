"""One precision policy for upscale, evaluate and train: fp32, or bf16 autocast where the hardware runs it.

`auto` picks bf16 on CUDA GPUs that support it and on CPUs with bf16 matrix instructions (AMX or
avx512_bf16), where oneDNN runs bf16 convolutions 3-5x faster than fp32; elsewhere bf16 is emulated and
slower, so `auto` stays fp32. Under bf16 only the autocast-eligible ops (convolutions, matmuls) run in
bf16; weights, optimiser state and loss reductions stay fp32. Tensors go channels_last under bf16, the
layout oneDNN's bf16 kernels take without reordering (measured faster there; fp32 gains nothing from it).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass

import torch
from torch import nn

from satsr.errors import UsageError

PRECISIONS = ("auto", "fp32", "bf16")
DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")  # torch device names satsr accepts


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 convolutions natively (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


@dataclass(frozen=True)
class Precision:
    """The resolved precision of a run on one device."""

    name: str  # "fp32" or "bf16"
    device: torch.device
    requested: str = "auto"  # what the user asked for (auto, fp32, bf16)

    @property
    def bf16(self) -> bool:
        return self.name == "bf16"

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.bf16 else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on this device type, or nothing under fp32."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def prepare(self, module: nn.Module) -> nn.Module:
        """`module` on the device in this precision's memory format (in place, as Module.to is)."""
        return module.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]

    def tensor(self, x: torch.Tensor) -> torch.Tensor:
        """A 4-D input on the device in this precision's memory format."""
        return x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def run(self, module: nn.Module, x: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        """module(x, **inputs) for inference in this precision, returned as float32 on the CPU."""
        with torch.inference_mode(), self.autocast():
            extra = {k: v.to(self.device) for k, v in inputs.items()}
            return module(self.tensor(x), **extra).float().cpu()

    def describe(self) -> str:
        """e.g. 'bf16 (auto: cpu has native bf16)' for progress lines and reports."""
        if self.requested != "auto":
            return self.name
        why = "has" if self.bf16 else "lacks"
        return f"{self.name} (auto: {self.device.type} {why} native bf16)"


def resolve_precision(name: str, device: torch.device | str) -> Precision:
    """auto -> bf16 where `device` runs it natively, else fp32; fp32 and bf16 are taken as asked."""
    device = torch.device(device)
    if name not in PRECISIONS:
        raise UsageError(f"--precision {name}: choose one of {', '.join(PRECISIONS)}")
    chosen = ("bf16" if native_bf16(device) else "fp32") if name == "auto" else name
    return Precision(chosen, device, name)


def resolve_device(name: str) -> str:
    """auto -> cuda when torch sees a GPU, else cpu; an unavailable device is a usage error (exit 2).

    Under torchrun (LOCAL_RANK set), auto and a bare cuda mean this process's own GPU, cuda:LOCAL_RANK
    (modulo the GPUs seen), so N processes on a node do not all share cuda:0.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    local = os.environ.get("LOCAL_RANK")
    if name == "cuda" and local is not None and local.isdigit() and torch.cuda.is_available():
        name = f"cuda:{int(local) % max(torch.cuda.device_count(), 1)}"
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            seen = f"{count} CUDA device{'s' * (count != 1)}" if count else "no CUDA device"
            raise UsageError(f"--device {name}: torch sees {seen}; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: torch sees no MPS device; use --device cpu or auto")
    return name
