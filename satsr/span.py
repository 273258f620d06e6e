"""The span generator: SPAN-style blocks (Wan et al. 2024, "Swift Parameter-free Attention Network"), one
pixel shuffle at the end, on top of bicubic upsampling. Registry: satsr/generators.py.

Each block is three 3x3 convolutions whose output gates the block's input through a parameter-free attention,
(h + x) * (sigmoid(h) - 0.5): a block can pass, amplify or suppress detail per pixel at the cost of two
element-wise operations. 48 features x 6 blocks (21 convolutions at 48 channels, against srresnet 64x16's
35 at 64) upscale 2.7x as fast as srresnet 64x16 in bf16 (benchmarks/bench_sizes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from satsr.models import bicubic, x2_stages
from satsr.spec import Spec


@dataclass(frozen=True)
class SpanSpec(Spec):
    """Everything needed to rebuild a span generator; stored in every weights file."""

    bands: int = 3  # input and output band count
    features: int = 48  # channels of every block
    blocks: int = 6  # attention blocks
    scale: int = 4  # upscaling factor: a power of two >= 2

    def __post_init__(self) -> None:
        x2_stages(self.scale)  # ValueError unless a power of two


class AttentionBlock(nn.Module):
    """conv-SiLU-conv-SiLU-conv, then (h + x) * (sigmoid(h) - 0.5): the block's own output is its gate."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1), nn.SiLU(),
            nn.Conv2d(features, features, 3, padding=1), nn.SiLU(),
            nn.Conv2d(features, features, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return (h + x) * (torch.sigmoid(h) - 0.5)


class SpanGenerator(nn.Module):
    """head conv -> attention blocks -> a 1x1 fusion of the head's, the first and the last block's
    features and one more conv of the last -> one conv to bands x scale^2 sub-pixels and one pixel
    shuffle, added to bicubic. The last conv starts at zero, so an untrained model is exactly bicubic."""

    Spec: ClassVar[type[SpanSpec]] = SpanSpec

    def __init__(self, spec: SpanSpec = SpanSpec()) -> None:
        super().__init__()
        f = spec.features
        self.spec = spec
        self.head = nn.Conv2d(spec.bands, f, 3, padding=1)
        self.blocks = nn.ModuleList(AttentionBlock(f) for _ in range(spec.blocks))
        self.last = nn.Conv2d(f, f, 3, padding=1)
        self.fuse = nn.Conv2d(4 * f, f, 1)
        subpixels = nn.Conv2d(f, spec.bands * spec.scale**2, 3, padding=1)
        nn.init.zeros_(subpixels.weight)
        nn.init.zeros_(subpixels.bias)  # type: ignore[arg-type]
        self.upsample = nn.Sequential(subpixels, nn.PixelShuffle(spec.scale))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        head = self.head(lr)
        feat = first = self.blocks[0](head)
        for block in self.blocks[1:]:
            feat = block(feat)
        fused = self.fuse(torch.cat([head, first, feat, self.last(feat)], 1))
        return bicubic(lr, self.spec.scale) + self.upsample(fused)

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context each output pixel depends on (tiles overlap at least this)."""
        return 1 + 3 * self.spec.blocks + 1 + 1 + 2  # head, blocks, last, upsample conv, bicubic support
