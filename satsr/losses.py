"""Pixel and adversarial losses. D returns one raw score (logit) per image.

ADV_LOSSES maps a name to (discriminator loss, generator loss); both take the scores of real and fake
images. wgan-gp's gradient penalty needs D itself and is added by `gradient_penalty`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Scores = torch.Tensor


def masked_l1(sr: torch.Tensor, hr: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error over valid pixels ((B, H, W) mask; None: all pixels)."""
    return _masked_mean((sr.float() - hr.float()).abs(), valid)


def masked_mse(sr: torch.Tensor, hr: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over valid pixels: the error PSNR scores."""
    return _masked_mean((sr.float() - hr.float()).square(), valid)


def _masked_mean(error: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if valid is None:
        return error.mean()
    weight = valid.unsqueeze(1).to(error.dtype).expand_as(error)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


PIXEL_LOSSES = {"l1": masked_l1, "mse": masked_mse}  # the names `pixel_loss` accepts


def _bce(logits: Scores, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))


def vanilla_d(real: Scores, fake: Scores, smoothing: float) -> torch.Tensor:
    return _bce(real, 1.0 - smoothing) + _bce(fake, 0.0)


def vanilla_g(real: Scores, fake: Scores) -> torch.Tensor:
    return _bce(fake, 1.0)


def ragan_d(real: Scores, fake: Scores, smoothing: float) -> torch.Tensor:
    """Relativistic average: real should look more real than the average fake, and vice versa."""
    return _bce(real - fake.mean(), 1.0 - smoothing) + _bce(fake - real.mean(), 0.0)


def ragan_g(real: Scores, fake: Scores) -> torch.Tensor:
    return _bce(fake - real.mean(), 1.0) + _bce(real - fake.mean(), 0.0)


def wgan_d(real: Scores, fake: Scores, smoothing: float) -> torch.Tensor:
    """Critic loss plus a small drift term that keeps real scores near zero (progressive GAN)."""
    return fake.float().mean() - real.float().mean() + 1e-3 * real.float().pow(2).mean()


def wgan_g(real: Scores, fake: Scores) -> torch.Tensor:
    return -fake.float().mean()


ADV_LOSSES: dict[
    str, tuple[Callable[[Scores, Scores, float], torch.Tensor], Callable[[Scores, Scores], torch.Tensor]]
]
ADV_LOSSES = {  # the names `adv_loss` accepts (config.py checks against these keys)
    "vanilla": (vanilla_d, vanilla_g),
    "wgan-gp": (wgan_d, wgan_g),
    "ragan": (ragan_d, ragan_g),
}


def gradient_penalty(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """(||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake (Gulrajani et al. 2017)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(mixed).float().sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def d_statistics(real: Scores, fake: Scores, kind: str) -> dict[str, float]:
    """Mean D(real) and D(fake) (probabilities; raw critic scores for wgan-gp) and D accuracy."""
    real, fake = real.detach().float(), fake.detach().float()
    if kind == "wgan-gp":
        d_real, d_fake = real.mean(), fake.mean()
    else:
        d_real, d_fake = torch.sigmoid(real).mean(), torch.sigmoid(fake).mean()
    if kind == "vanilla":  # absolute judgement: the sign of the logit
        acc = 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())
    else:  # relative losses only rank real above fake
        acc = 0.5 * ((real > fake.mean()).float().mean() + (fake < real.mean()).float().mean())
    return {"d_real": float(d_real), "d_fake": float(d_fake), "d_acc": float(acc)}
