"""Structural re-parameterisation: train each trunk convolution as several linear branches, ship one conv.

A `RepConv` is a 3x3 convolution plus a 1x1 branch, a per-channel identity and an expand-squeeze branch
(1x1 to twice the channels, then 3x3, as ECBSR trains). All four are linear in the input, so their sum is
exactly one 3x3 convolution: `fold` writes it, and the exported weights are a plain srresnet of the same
size and speed. Only the optimisation differs: the deeper, wider linear parameterisation changes the
gradient's geometry (Arora et al. 2018; Ding et al. 2021), which can train further per step at no
inference cost.

The extra branches start at zero, so a re-parameterised generator starts as exactly the plain one (random
or `init_weights`), and the first step's output equals the plain model's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RepConv(nn.Module):
    """conv3x3 + conv1x1 + identity + squeeze3x3(expand1x1), same channels in and out, run as one conv.

    The branches are composed into one kernel at every forward (online re-parameterisation, after OREPA):
    the output and its gradients are those of the four-branch network, at the cost of a plain convolution
    plus a little weight arithmetic.
    """

    def __init__(self, conv: nn.Conv2d, expand: int = 2) -> None:
        super().__init__()
        c = conv.out_channels
        if conv.in_channels != c or conv.kernel_size != (3, 3) or conv.padding != (1, 1):
            raise ValueError("RepConv wraps a 3x3, padding-1 convolution with as many channels in as out")
        self.conv = conv
        self.pointwise = nn.Conv2d(c, c, 1, bias=False)
        self.identity = nn.Parameter(torch.zeros(c))
        self.expand = nn.Conv2d(c, expand * c, 1, bias=False)  # random: the squeeze gets a gradient at once
        self.squeeze = nn.Conv2d(expand * c, c, 3, padding=1, bias=False)
        nn.init.zeros_(self.pointwise.weight)
        nn.init.zeros_(self.squeeze.weight)

    def kernel(self) -> torch.Tensor:
        """The one 3x3 kernel of all branches. Exact: the expand branch has no bias, so the squeeze's zero
        padding sees what the plain conv's does."""
        centre = self.pointwise.weight[:, :, 0, 0] + torch.diag(self.identity)
        squeezed = torch.einsum("oeyx,ei->oiyx", self.squeeze.weight, self.expand.weight[:, :, 0, 0])
        return self.conv.weight + squeezed + F.pad(centre[:, :, None, None], (1, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel(), self.conv.bias, padding=1)

    @torch.no_grad()
    def folded(self) -> nn.Conv2d:
        """A plain 3x3 convolution with the composed kernel."""
        c = self.conv.out_channels
        conv = nn.Conv2d(c, c, 3, padding=1, bias=self.conv.bias is not None).to(self.conv.weight.device)
        conv.weight.copy_(self.kernel())
        if self.conv.bias is not None:
            conv.bias.copy_(self.conv.bias)  # type: ignore[union-attr]
        return conv


def reparameterise(generator: nn.Module) -> nn.Module:
    """Wrap every 3x3 convolution of the generator's residual trunk in a RepConv (in place; returns it)."""
    for block in generator.trunk:
        for i, layer in enumerate(block.body):
            if isinstance(layer, nn.Conv2d):
                block.body[i] = RepConv(layer)
    return generator


def fold(generator: nn.Module) -> nn.Module:
    """Replace every RepConv by its folded 3x3 convolution (in place; returns it): a plain generator."""
    for name, module in list(generator.named_modules()):
        if isinstance(module, RepConv):
            parent, _, child = name.rpartition(".")
            setattr(generator.get_submodule(parent), child, module.folded())
    return generator
