"""The networks of a run (G, D, EMA, optimisers; optionally G from existing weights) and one
optimisation step of each phase: pixel pretraining, and the D-then-G adversarial update.

Order per adversarial step (as in BasicSR's srgan_model): G makes SR once; D is updated on (HR, SR
detached); G is then updated on the content loss (L1 or MSE) + weighted adversarial loss, judged by D
(or by a look-ahead copy of D when unrolling). D's parameters are frozen during the G update so that
G's backward neither computes nor all-reduces gradients for D.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from satsr.config import TrainConfig
from satsr.dataset import Source, same_normalisation
from satsr.discriminator import Discriminator
from satsr.errors import WeightsError
from satsr.generators import build_generator, read_spec
from satsr.losses import ADV_LOSSES, PIXEL_LOSSES, d_statistics, gradient_penalty, masked_l1
from satsr.models import gaussian_blur
from satsr.precision import Precision
from satsr.reparam import reparameterise
from satsr.spec import Spec
from satsr.weights import load_weights

Batch = tuple[torch.Tensor, ...]  # lr, hr, valid, softness (NaN: unknown)
Autocast = Callable[[], AbstractContextManager]


@dataclass
class Nets:
    g: nn.Module  # generator (DDP-wrapped under torchrun)
    d: nn.Module  # discriminator (DDP-wrapped under torchrun)
    ema: nn.Module  # EMA copy of the plain generator: validated and exported
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def adam(module: nn.Module, lr: float, cfg: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(cfg.beta1, cfg.beta2))


def run_spec(cfg: TrainConfig, bands: int, scale: int) -> Spec:
    """The spec of the generator a run trains: the bands and scale of its data, the other fields from the
    config fields of the same names (features, blocks ...)."""
    return read_spec(cfg.generator, {**cfg.to_dict(), "bands": bands, "scale": scale})


def build_nets(
    cfg: TrainConfig, spec: Spec, precision: Precision, world: int, init: nn.Module | None = None
) -> Nets:
    """G (random, or a copy of `init`), D, the EMA of G and both optimisers on the precision's device, in
    its memory format (DDP: world > 1). Parameters stay fp32 whatever the precision."""
    g = build_generator(cfg.generator, spec)
    if init is not None:
        load_init(g, init)
    if cfg.noise_init:  # off the saddle at zero, where the noise gets no first-order gradient
        for inject in g.noise_in:
            nn.init.normal_(inject.weight, std=cfg.noise_init)
    if cfg.reparam:
        reparameterise(g)
    precision.prepare(g)
    bands = spec.bands  # type: ignore[attr-defined]
    d = precision.prepare(Discriminator(bands, cfg.d_features, cfg.d_head, cfg.d_highpass, cfg.d_augment))
    device = precision.device
    ema = copy.deepcopy(g).requires_grad_(False)
    opt_g, opt_d = adam(g, cfg.lr_pretrain, cfg), adam(d, cfg.lr_d, cfg)
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        g, d = DistributedDataParallel(g, device_ids=ids), DistributedDataParallel(d, device_ids=ids)
    return Nets(g, d, ema, opt_g, opt_d)


def load_init(g: nn.Module, init: nn.Module) -> None:
    """G's weights from `init`. G may hold more than `init` and still start as exactly `init`: noise
    injections (they start at zero) and residual blocks appended to its trunk (their last conv starts at
    zero, so each passes its input on): a trained model grows deeper without starting over."""
    kept = len(getattr(init, "trunk", ()))
    appended = tuple(f"trunk.{i}." for i in range(kept, len(getattr(g, "trunk", ()))))
    missing, unexpected = g.load_state_dict(init.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("noise_in.", *appended)) for k in missing):
        g.load_state_dict(init.state_dict())  # strict: raises naming the keys that do not match
    for block in g.trunk[kept:] if appended else ():
        nn.init.zeros_(block.body[-1].weight)
        nn.init.zeros_(block.body[-1].bias)


def initial_generator(cfg: TrainConfig, source: Source) -> nn.Module:
    """The weights a fine-tuning run starts G from (e.g. the shipped model), checked against the run."""
    loaded = load_weights(cfg.init_weights)
    m = source.manifest
    if loaded.meta.architecture != cfg.generator:
        raise WeightsError(
            f"{loaded.path}: architecture {loaded.meta.architecture} differs from this run's "
            f"{cfg.generator}; set generator to match the weights or start without "
            "init_weights"
        )
    if loaded.scale != m.scale:
        raise WeightsError(
            f"{loaded.path}: upscales by {loaded.scale} but {source.root} is prepared for "
            f"{m.scale}x; prepare the data at the weights' scale or start without "
            "init_weights"
        )
    have_d, want_d = loaded.meta.spec.to_dict(), run_spec(cfg, m.bands, m.scale).to_dict()
    # weights without noise may start a noise-injected run, and fewer blocks a deeper one (load_init)
    names = [k for k in have_d if k != "scale" and (k != "noise" or have_d[k])]
    grows = {"blocks"} if have_d.get("blocks", 0) < want_d.get("blocks", 0) else set()
    if any(have_d[k] != want_d[k] for k in names if k not in grows):
        have, want = tuple(have_d[k] for k in names), tuple(want_d[k] for k in names)
        raise WeightsError(
            f"{loaded.path}: ({', '.join(names)}) {have} differ from this run's {want}; set features, "
            "upsampler and conditioned as the weights have them (blocks: theirs or more) or start without "
            "init_weights"
        )
    if not same_normalisation(loaded.normalisation, m.norm):
        raise WeightsError(
            f"{loaded.path}: normalisation {loaded.normalisation.to_dict()} differs from {source.root}'s "
            f"{m.normalisation}; prepare the data with the weights' normalisation"
        )
    return loaded.generator


def _apply(opt: torch.optim.Optimizer, module: nn.Module, loss: torch.Tensor, clip: float) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
    opt.step()


def pretrain_step(nets: Nets, batch: Batch, cfg: TrainConfig, autocast: Autocast) -> dict[str, torch.Tensor]:
    lr, hr, valid, softness = batch
    with autocast():
        sr = _generate(nets, lr, softness)
    pixel = PIXEL_LOSSES[cfg.pixel_loss](sr, hr, valid)
    loss, estimator = _with_estimator(nets, pixel, softness)
    _apply(nets.opt_g, nets.g, loss, cfg.grad_clip)
    return {"loss_g": loss.detach(), "loss_pixel": pixel.detach(), **estimator}


def _generate(nets: Nets, lr: torch.Tensor, softness: torch.Tensor) -> torch.Tensor:
    """G's output; a softness-conditioned G is also told the known softness of each sample (any other
    registered generator takes the LR alone)."""
    if getattr(unwrap(nets.g), "estimator", None) is None:
        return nets.g(lr)
    return nets.g(lr, softness)


def _with_estimator(
    nets: Nets, loss: torch.Tensor, softness: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A conditioned G's loss gains its softness estimator's error on the samples whose softness is known
    (the estimate is detached where G is conditioned on it, so the two objectives stay apart)."""
    estimate = getattr(unwrap(nets.g), "estimate", None)
    if estimate is None:
        return loss, {}
    known = torch.isfinite(softness)
    error = F.smooth_l1_loss(estimate[known].float(), softness[known].float(), beta=0.5) if known.any() \
        else estimate.sum() * 0.0  # fmt: skip
    return loss + error, {"loss_softness": error.detach()}


def d_update(
    d: nn.Module, opt: torch.optim.Optimizer, hr: torch.Tensor, fake: torch.Tensor, cfg: TrainConfig,
    autocast: Autocast,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """One D step on real (target 1, smoothed) vs fake (target 0); one forward of both for DDP's sake."""
    d_loss, _ = ADV_LOSSES[cfg.adv_loss]
    with autocast():
        scores = d(torch.cat([hr, fake]))
    real, fake_scores = scores[: hr.shape[0]], scores[hr.shape[0] :]
    loss = d_loss(real, fake_scores, cfg.label_smoothing)
    if cfg.adv_loss == "wgan-gp":
        with autocast():
            loss = loss + cfg.gp_weight * gradient_penalty(unwrap(d), hr, fake)
    _apply(opt, d, loss, cfg.grad_clip)
    return loss.detach(), real.detach(), fake_scores.detach()


def lookahead(
    nets: Nets, hr: torch.Tensor, fake: torch.Tensor, cfg: TrainConfig, autocast: Autocast
) -> nn.Module:
    """A copy of D advanced `d_unroll` extra steps on this batch (first-order unrolled GAN, Metz et al.).

    G then steps against where D is heading rather than where it is, which damps mode hopping. The copy
    and its optimiser state are private: the real D and its Adam moments are untouched.
    """
    d = copy.deepcopy(unwrap(nets.d))
    opt = adam(d, cfg.lr_d, cfg)
    opt.load_state_dict(copy.deepcopy(nets.opt_d.state_dict()))  # deep: Adam updates moments in place
    for _ in range(cfg.d_unroll):
        d_update(d, opt, hr, fake, cfg, autocast)
    return d


def adversarial_step(
    nets: Nets, batch: Batch, cfg: TrainConfig, adv_weight: float, autocast: Autocast
) -> dict[str, torch.Tensor | float]:
    lr, hr, valid, softness = batch
    with autocast():
        sr = _generate(nets, lr, softness)
    fake = sr.detach()
    loss_d, real_scores, fake_scores = d_update(nets.d, nets.opt_d, hr, fake, cfg, autocast)
    judge = lookahead(nets, hr, fake, cfg, autocast) if cfg.d_unroll else unwrap(nets.d)
    needs_real = cfg.adv_loss == "ragan" or cfg.fm_weight > 0
    judge.requires_grad_(False)
    try:
        with autocast():
            fake_g, fake_feats = judge.scores_and_features(sr)
            with torch.no_grad():
                real_g, real_feats = judge.scores_and_features(hr) if needs_real else (fake_g.detach(), [])
        pixel = content_loss(sr, hr, valid, cfg.pixel_lowpass, cfg.pixel_loss)
        adv = ADV_LOSSES[cfg.adv_loss][1](real_g, fake_g)
        loss_g, estimator = _with_estimator(nets, cfg.pixel_weight * pixel + adv_weight * adv, softness)
        if cfg.fm_weight > 0:  # a perceptual loss learnt on this data: no pretrained network needed
            fm = torch.stack([masked_l1(f, r) for f, r in zip(fake_feats, real_feats, strict=True)]).mean()
            loss_g = loss_g + cfg.fm_weight * fm
        _apply(nets.opt_g, nets.g, loss_g, cfg.grad_clip)
    finally:
        judge.requires_grad_(True)
    stats = d_statistics(real_scores, fake_scores, cfg.adv_loss)
    losses = {"loss_g": loss_g.detach(), "loss_pixel": pixel.detach(), "loss_adv": adv.detach()}
    if cfg.fm_weight > 0:
        losses["loss_fm"] = fm.detach()
    return {**losses, **estimator, "loss_d": loss_d, **stats}


def content_loss(
    sr: torch.Tensor, hr: torch.Tensor, valid: torch.Tensor, lowpass: float, kind: str = "l1"
) -> torch.Tensor:
    """The pixel loss `kind` between Gaussian blurs of `lowpass` sigma (0: no blur). Frequency separation:
    the finer detail is left to D, so the two losses do not pull one band two ways."""
    return PIXEL_LOSSES[kind](gaussian_blur(sr.float(), lowpass), gaussian_blur(hr.float(), lowpass), valid)


@torch.no_grad()
def update_ema(ema: nn.Module, g: nn.Module, decay: float, step: int) -> None:
    """EMA with warm-up: early on the average follows G closely, later it smooths over ~1/(1-decay) steps."""
    d = min(decay, (1 + step) / (10 + step))
    ema_p, g_p = [p.data for p in ema.parameters()], [p.detach() for p in g.parameters()]
    torch._foreach_lerp_(ema_p, g_p, 1 - d)
    for eb, gb in zip(ema.buffers(), g.buffers(), strict=True):
        eb.copy_(gb)
