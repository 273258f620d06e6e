"""The discriminator of the adversarial phase (a LeakyReLU CNN, a logit per image or per patch) and what it
may see instead of the images themselves: their detail, and DiffAugment's random views."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from satsr.models import gaussian_blur


class Discriminator(nn.Module):
    """Strided CNN with LeakyReLU(0.2); no batch norm, so the gradient penalty stays per-sample.

    head "global": average pool and a dense head, one logit per image (B,). head "patch": a 3x3 conv on
    the last feature map, one logit per 16 x 16 px patch (B, H/8, W/8) with overlapping receptive fields
    (PatchGAN): every region of the image is judged, which pushes texture everywhere, not just on average.
    Any crop size works with both.

    highpass > 0: D judges only the detail, the image minus its Gaussian blur of that sigma (HR px), as in
    frequency-separation SR (Fritsche et al. 2019). The colour and tone of a real pair's two captures, which
    no upscaler can or should match, then cannot give SR away. (On this project's data such a D wins too
    easily to teach G: see weights/EXPERIMENTS.md.)

    augment: in training mode D sees every image, real or SR, through random differentiable changes, a
    comma-separated DiffAugment policy (Zhao et al. 2020) of colour, translation and cutout, in the D and G
    steps alike, so that with few places it cannot win by memorising them and has to judge what they share.
    """

    def __init__(
        self, bands: int = 3, features: int = 32, head: str = "global", highpass: float = 0.0,
        augment: str = "",
    ) -> None:  # fmt: skip
        super().__init__()
        self.highpass = highpass
        self.augment = augment_policy(augment)
        widths = [features, features, 2 * features, 2 * features, 4 * features, 4 * features, 8 * features]
        layers: list[nn.Module] = [nn.Conv2d(bands, features, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for i, (cin, cout) in enumerate(itertools.pairwise(widths)):
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        if head not in D_HEADS:
            raise ValueError(f"discriminator head {head!r}: one of {', '.join(D_HEADS)}")
        if head == "patch":
            self.head: nn.Module = nn.Conv2d(widths[-1], 1, 3, padding=1)
        else:
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Linear(widths[-1], 4 * features), nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(4 * features, 1),
            )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.detail(x))).squeeze(1)

    def detail(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees: x, or x minus its Gaussian blur; augmented while training (`augment`)."""
        x = x - gaussian_blur(x, self.highpass) if self.highpass > 0 else x
        return diff_augment(x, self.augment) if self.augment and self.training else x

    def scores_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The scores and the activation after every LeakyReLU (for feature matching)."""
        x = self.detail(x)
        feats = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return self.head(x).squeeze(1), feats


D_HEADS = ("global", "patch")


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) on (B, C, H, W) `x`, each change drawn per image from torch's generator
    (checkpointed, so resume stays exact); differentiable in x."""
    for name in policy:
        x = AUGMENTS[name](x)
    return x


def _colour(x: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation and contrast."""
    u = lambda: torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)  # noqa: E731
    x = x + (u() - 0.5)
    x = (x - x.mean(1, keepdim=True)) * (2 * u()) + x.mean(1, keepdim=True)
    return (x - x.mean((1, 2, 3), keepdim=True)) * (u() + 0.5) + x.mean((1, 2, 3), keepdim=True)


def _translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image shifted by up to `ratio` of its side along each axis, zeros shifted in."""
    b, _, h, w = x.shape
    ph, pw = round(h * ratio), round(w * ratio)
    padded = F.pad(x, (pw, pw, ph, ph))
    dy, dx = torch.randint(0, 2 * ph + 1, (b,)).tolist(), torch.randint(0, 2 * pw + 1, (b,)).tolist()
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Each image with a square of `ratio` of its side, centred anywhere on it, set to zero."""
    b, _, h, w = x.shape
    sh, sw = round(h * ratio), round(w * ratio)
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows - cy).abs() < sh / 2) & ((cols - cx).abs() < sw / 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS = {"color": _colour, "translation": _translate, "cutout": _cutout}


def augment_policy(text: str) -> tuple[str, ...]:
    """A comma-separated DiffAugment policy ("": none) as the names `diff_augment` applies in turn."""
    policy = tuple(name for name in text.split(",") if name)
    if unknown := [name for name in policy if name not in AUGMENTS]:
        raise ValueError(f"d_augment must list some of {', '.join(AUGMENTS)} (got {', '.join(unknown)})")
    return policy
