"""The srresnet generator (residual blocks, one pixel-shuffle x2 stage per factor of 2 of its scale) with its
spec, and the Gaussian blur its losses share with the discriminator (discriminator.py). Registry:
satsr/generators.py."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from satsr.spec import Spec


def flush_denormals() -> None:
    """Treat denormal floats as zero on the CPU.

    The generator's tail starts at zero, so early in training (and in lightly trained weights) many
    activations are denormal; x86 handles those in microcode, measured here at 2-7x slower steps.
    """
    torch.set_flush_denormal(True)


@dataclass(frozen=True)
class GeneratorSpec(Spec):
    """Everything needed to rebuild an srresnet generator; stored in every weights file."""

    bands: int = 3  # input and output band count
    features: int = 32  # channels of the residual trunk
    blocks: int = 8  # residual blocks in the trunk
    scale: int = 4  # upscaling factor: a power of two, one pixel-shuffle x2 stage per factor of 2
    upsampler: str = "x2-stages"  # or "shuffle-direct" (see Generator); files without it are x2-stages
    conditioned: bool = False  # told its input's softness (estimated from the LR itself, or given)
    noise: bool = False  # Gaussian noise injected into every residual block (stochastic texture)

    def __post_init__(self) -> None:
        if self.upsampler not in UPSAMPLERS:
            raise ValueError(f"architecture upsampler {self.upsampler!r}: not one of {', '.join(UPSAMPLERS)}")

    def describe(self) -> str:
        direct = ", shuffle-direct" if self.upsampler == "shuffle-direct" else ""
        conditioned = ", softness-conditioned" if self.conditioned else ""
        noise = ", noise-injected" if self.noise else ""
        return f"{self.features} features, {self.blocks} blocks{direct}{conditioned}{noise}"


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The bicubic upsample every generator predicts a residual over."""
    # contiguous: torch's bicubic is ~2x slower on channels_last input (the bf16 path's layout)
    return F.interpolate(lr.contiguous(), scale_factor=scale, mode="bicubic", align_corners=False)


def x2_stages(scale: int) -> int:
    """How many x2 stages make `scale` (2 -> 1, 4 -> 2, 8 -> 3); ValueError unless a power of two >= 2."""
    if scale < 2 or scale & (scale - 1):
        raise ValueError(f"scale {scale} is not a power of two >= 2 (2, 4, 8 ...)")
    return scale.bit_length() - 1


UPSAMPLERS = ("x2-stages", "shuffle-direct")


def _subpixel_phases() -> torch.Tensor:
    """P[d, k, a, s] = 1 where tap k (0..2) of a 3x3 kernel at sub-pixel d (0..1) of a x2 grid falls on
    coarse-grid offset a - 1 (a in 0..2) at sub-pixel s: fine offset d + k - 1 = 2 * (a - 1) + s."""
    phases = torch.zeros(2, 3, 3, 2)
    for d, k in itertools.product(range(2), range(3)):
        coarse, sub = divmod(d + k - 1, 2)
        phases[d, k, coarse + 1, sub] = 1.0
    return phases


_PHASES = _subpixel_phases()


class ResidualBlock(nn.Module):
    """conv-act-conv with a scaled identity skip (no batch norm: it hurts SR and tiled inference)."""

    def __init__(self, features: int, res_scale: float = 0.2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.PReLU(features),
            nn.Conv2d(features, features, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


NOISE_CHANNELS = 16  # LR-resolution noise maps: as many as HR pixels per LR pixel at 4x
NOISE_SEED = 0  # of inference's position-keyed noise (position_noise): upscaling stays deterministic


def position_noise(origins: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, NOISE_CHANNELS, height, width) standard normal noise that is a fixed function of position: pixel
    (i, j) of sample b gets the noise of scene pixel origins[b] + (i, j) (LR px, any integers). Overlapping
    tiles of a scene draw the same noise where they overlap, so tiled inference stays seam-free and every
    run gives the same output. A counter-based hash (lowbias32) of (row, col, map), then Box-Muller."""
    o = origins.to(torch.int64)
    rows = o[:, 0, None, None, None] + torch.arange(height)[None, None, :, None]
    cols = o[:, 1, None, None, None] + torch.arange(width)[None, None, None, :]
    maps = torch.arange(2 * NOISE_CHANNELS)[None, :, None, None]
    key = _hash32(_hash32(_hash32(rows + NOISE_SEED) ^ cols) ^ maps)  # (B, 2 * channels, h, w)
    u = (key.double() + 0.5) / 2**32  # uniform in (0, 1)
    u1, u2 = u[:, :NOISE_CHANNELS], u[:, NOISE_CHANNELS:]
    return (torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)).float()


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 (C. Wellons) of the low 32 bits of int64 values: an avalanching integer hash."""
    mask = 0xFFFFFFFF
    x = x & mask
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & mask
    x = ((x ^ (x >> 15)) * 0x846CA68B) & mask
    return x ^ (x >> 16)


def noise_inputs(generator: nn.Module, x: Any, origins: Any) -> dict[str, torch.Tensor]:
    """The `noise` input of a noise-injected generator for tiles `x` whose top-left pixels lie at `origins`
    (LR px on their scene, one (row, col) per tile; None: each at the origin); {} for any other generator."""
    if not getattr(getattr(generator, "spec", None), "noise", False):
        return {}
    origins = torch.zeros(len(x), 2) if origins is None else torch.as_tensor(origins)
    return {"noise": position_noise(origins, *x.shape[-2:])}


def zero_conv1x1(cin: int, cout: int) -> nn.Conv2d:
    """A bias-free 1x1 convolution that starts at zero (adds nothing until training says otherwise)."""
    conv = nn.Conv2d(cin, cout, 1, bias=False)
    nn.init.zeros_(conv.weight)
    return conv


SOFTNESS_UNIT = 3.0  # HR px: the conditioning channel carries softness / this (about 0-1 over the range)


class SoftnessEstimator(nn.Module):
    """How soft an LR tile is (the Gaussian blur sigma before its downsample, HR px, as satsr.degrade
    defines it), from the tile alone: a small strided LeakyReLU CNN pooled over the tile."""

    def __init__(self, bands: int, features: int = 32) -> None:
        super().__init__()
        f = features
        self.net = nn.Sequential(
            nn.Conv2d(bands, f, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(f, f, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(f, 2 * f, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * f, 2 * f, 3, padding=1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * f, 1),
        )  # fmt: skip

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) model-space LR -> (B,) softness in HR px."""
        return self.net(lr).squeeze(1).float()


class Generator(nn.Module):
    """SRResNet-style generator that predicts a residual on top of bicubic upsampling (x2, x4, x8 ...).

    Upsamplers: "x2-stages" (SRResNet: a conv + pixel-shuffle x2 stage at full width per factor of 2, then a
    tail conv) or "shuffle-direct" (one conv from the trunk to bands x scale^2 sub-pixels and a single pixel
    shuffle, as ESPCN/RLFN/SPAN do): everything runs at LR resolution, so a wider, deeper trunk costs the
    same time.

    A conditioned generator (spec.conditioned, after SRMD) also takes the softness of its input as one more
    constant input channel, so it can sharpen soft input hard and sharp input gently instead of doing the
    same to all. The softness comes from `forward`'s argument (per sample; NaN: unknown), else from the
    `softness` attribute (one value for a whole scene, so tiles never disagree), else from its own
    estimator run on the input.

    A noise-injected generator (spec.noise, after StyleGAN and nESRGAN+) adds Gaussian noise maps to the
    output of every residual block through its own 1x1 convolution, zero at the start: the adversarial
    phase can then draw texture (grass, gravel, rubble) that the LR does not determine, instead of
    deriving it from the LR's content. Training draws fresh noise; inference takes noise keyed on scene
    position (`position_noise`), so that tiles agree.
    """

    Spec: ClassVar[type[GeneratorSpec]] = GeneratorSpec
    softness: float | None = None  # a fixed input softness (HR px) for every tile; None: estimate per input

    def __init__(self, spec: GeneratorSpec = GeneratorSpec()) -> None:
        super().__init__()
        stages = x2_stages(spec.scale)
        f = spec.features
        self.spec = spec
        self.head = nn.Conv2d(spec.bands + int(spec.conditioned), f, 3, padding=1)
        self.estimator = SoftnessEstimator(spec.bands) if spec.conditioned else None
        self.estimate: torch.Tensor | None = None  # the last training batch's estimates (its loss)
        self.trunk = nn.Sequential(*[ResidualBlock(f) for _ in range(spec.blocks)])
        injections = (zero_conv1x1(NOISE_CHANNELS, f) for _ in range(spec.blocks))
        self.noise_in = nn.ModuleList(injections) if spec.noise else None
        self.trunk_out = nn.Conv2d(f, f, 3, padding=1)
        if spec.upsampler == "shuffle-direct":
            self.upsample = nn.Sequential(nn.Conv2d(f, spec.bands * spec.scale**2, 3, padding=1),
                                          nn.PixelShuffle(spec.scale))  # fmt: skip
            nn.init.zeros_(self.upsample[0].weight)  # start as exact bicubic: training only adds detail
            nn.init.zeros_(self.upsample[0].bias)
            return
        # conv, shuffle, act per stage (flat: the x4 tensor names upsample.0/2/3/5 of older files stay valid)
        stage = lambda: (nn.Conv2d(f, 4 * f, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(f))  # noqa: E731
        self.upsample = nn.Sequential(*[m for _ in range(stages) for m in stage()])
        self.tail = nn.Conv2d(f, spec.bands, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # start as exact bicubic: training only has to add detail
        nn.init.zeros_(self.tail.bias)  # type: ignore[arg-type]

    def forward(
        self, lr: torch.Tensor, softness: torch.Tensor | None = None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`noise` (B, NOISE_CHANNELS, h, w): the noise maps of a noise-injected generator (else drawn)."""
        feat = self.head(self._conditioned(lr, softness) if self.estimator is not None else lr)
        feat = feat + self.trunk_out(self._trunk(feat, noise))  # global skip over the trunk
        base = bicubic(lr, self.spec.scale)
        if self.spec.upsampler == "shuffle-direct":
            return base + self.upsample(feat)
        return base + (self.tail(self.upsample(feat)) if self.training else self._folded_last_stage(feat))

    def _trunk(self, feat: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.noise_in is None:
            return self.trunk(feat)
        if noise is None:  # training: fresh noise; inference: each tile as if it lay at the scene's origin
            b, _, h, w = feat.shape
            zero = torch.zeros(b, 2)
            noise = torch.randn(b, NOISE_CHANNELS, h, w) if self.training else position_noise(zero, h, w)
        noise = noise.to(feat.device, feat.dtype)
        for block, inject in zip(self.trunk, self.noise_in, strict=True):
            feat = block(feat) + inject(noise)
        return feat

    def _conditioned(self, lr: torch.Tensor, softness: torch.Tensor | None) -> torch.Tensor:
        """The LR with its softness channel: given per sample, else fixed, else estimated."""
        assert self.estimator is not None
        if self.softness is not None and not self.training:
            s = torch.full((lr.shape[0],), float(self.softness), device=lr.device)
        else:
            estimate = self.estimator(lr)
            self.estimate = estimate if self.training else None
            s = estimate.detach().clamp(min=0)
        if softness is not None:
            s = torch.where(torch.isfinite(softness), softness.to(s.dtype), s)
        channel = (s / SOFTNESS_UNIT).to(lr.dtype).view(-1, 1, 1, 1).expand(-1, 1, *lr.shape[-2:])
        return torch.cat([lr, channel], 1)

    def estimate_softness(self, lr: torch.Tensor) -> torch.Tensor:
        """(B,) softness estimates (HR px) of model-space LR tiles; ValueError unless conditioned."""
        if self.estimator is None:
            raise ValueError("this generator is not softness-conditioned")
        return self.estimator(lr).clamp(min=0)

    def _folded_last_stage(self, feat: torch.Tensor) -> torch.Tensor:
        """upsample + tail, with the last pixel shuffle moved after the tail (inference; same maths).

        PReLU is per channel, so it commutes with the shuffle (its weights repeated per sub-pixel), and a
        3x3 convolution on the shuffled grid is a 3x3 convolution on the unshuffled one with a rearranged
        kernel. The tail then runs at half the output resolution and the full-width feature map is never
        shuffled: ~20 % less time per tile, most of it memory traffic at the output resolution.
        """
        *earlier, conv, _, act = self.upsample
        x = feat
        for i in range(0, len(earlier), 3):
            x = earlier[i + 2](earlier[i + 1](earlier[i](x)))
        x = F.prelu(conv(x), act.weight.repeat_interleave(4))
        weight = torch.einsum("ocyx,dyas,exbt->odecstab", self.tail.weight, _PHASES, _PHASES)
        weight = weight.reshape(4 * self.tail.out_channels, 4 * self.tail.in_channels, 3, 3)
        bias = self.tail.bias.repeat_interleave(4)  # type: ignore[union-attr]
        return F.pixel_shuffle(F.conv2d(x, weight, bias, padding=1), 2)

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context each output pixel depends on, rounded up (tiles overlap at least this)."""
        lr_convs = 1 + 2 * self.spec.blocks + 1 + 1  # head, trunk, trunk_out, first upsample conv
        if self.spec.upsampler == "shuffle-direct":
            return lr_convs + 2  # + bicubic support
        finer = sum(0.5**k for k in range(1, x2_stages(self.spec.scale) + 1))  # later upsample convs, tail
        return math.ceil(lr_convs + finer + 2)  # + bicubic support


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) `x` (taps out to 3 sigma, reflected at the edges); sigma <= 0
    leaves `x` as it is."""
    if sigma <= 0:
        return x
    r = math.ceil(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    taps = (taps / taps.sum()).to(x.device, x.dtype)
    c = x.shape[1]
    out = F.pad(x, (r, r, r, r), mode="reflect")
    out = F.conv2d(out, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
