"""Training configuration: frozen defaults, optionally overridden by a TOML file, then by CLI flags."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from satsr.errors import UsageError
from satsr.precision import PRECISIONS

if TYPE_CHECKING:
    from satsr.degrade import RandomDegradation

DEVICES = ("auto", "cpu", "cuda")
DEGRADE_MODES = ("stored", "random")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of `satsr train`; the resolved copy is saved in RUN_DIR/config.toml and in checkpoints."""

    steps: int = 20_000  # total optimisation steps, pretraining included
    pretrain_steps: int = 5_000  # first steps that train G with the pixel (L1) loss only
    batch_size: int = 16  # crops per step and per process (DDP: effective batch = processes x this)
    hr_crop: int = 96  # HR crop side in px (LR crop = hr_crop / scale); must fit inside the prepared tiles
    generator: str = "srresnet"  # architecture (satsr.generators.GENERATORS); its spec takes the fields below
    features: int = 32  # generator trunk channels
    blocks: int = 8  # generator residual blocks
    upsampler: str = "x2-stages"  # x2-stages (SRResNet) or shuffle-direct (one pixel shuffle x4 at the end)
    conditioned: bool = False  # G is told its input's softness (its own estimator learns it from the LR)
    noise: bool = False  # G adds learned noise in every residual block (init_weights without it: starts at 0)
    noise_init: float = 0.0  # std of the noise injections' first weights; 0: G starts as exactly init_weights
    reparam: bool = False  # G trains its trunk convs as multi-branch RepConvs, exported folded (reparam.py)
    d_features: int = 32  # discriminator base channels
    d_head: str = "global"  # discriminator output: global (a logit per image) or patch (per 16 px patch)
    d_highpass: float = 0.0  # D judges image - Gaussian blur of this sigma (HR px): detail only; 0: all
    d_augment: str = ""  # D sees real and SR through random changes (DiffAugment): color,translation,cutout
    lr_pretrain: float = 2e-4  # generator Adam learning rate during pretraining
    lr_schedule: str = "constant"  # pretraining lr: constant, or cosine (half cosine down to a tenth)
    lr_g: float = 1e-4  # generator Adam learning rate during the adversarial phase
    lr_d: float = 1e-4  # discriminator Adam learning rate
    beta1: float = 0.9  # Adam beta1 of both optimisers
    beta2: float = 0.99  # Adam beta2 of both optimisers
    pixel_loss: str = "l1"  # content loss of both phases: l1, or mse (the error PSNR scores)
    pixel_weight: float = 1.0  # weight of the content loss in the adversarial phase
    pixel_lowpass: float = 0.0  # adversarial phase: content loss on Gaussian blurs of sigma (HR px); 0: none
    fm_weight: float = 0.0  # weight of feature matching: L1 between D's activations on SR and on HR
    adv_loss: str = "vanilla"  # vanilla (BCE with logits), wgan-gp or ragan (relativistic average)
    adv_weight: float = 5e-3  # weight of the adversarial term in the generator loss (after the ramp)
    adv_ramp_steps: int = 1_000  # adversarial weight grows linearly from 0 over this many steps
    label_smoothing: float = 0.1  # one-sided: D's target for real images is 1 - this (vanilla, ragan)
    gp_weight: float = 10.0  # gradient-penalty weight (wgan-gp)
    d_unroll: int = 0  # G steps against a copy of D advanced this many look-ahead steps (0: off)
    grad_clip: float = 1.0  # max gradient norm for G and D (0: no clipping)
    ema_decay: float = 0.999  # EMA of G used for validation and export (warm-up: min(decay, (1+t)/(10+t)))
    log_every: int = 50  # steps between log rows (losses, D statistics)
    val_every: int = 500  # steps between validations, sample grids and best-weights updates
    checkpoint_every: int = 500  # steps between checkpoints (a killed run loses at most this many)
    val_tiles: int = 64  # val tiles scored (evenly spread over the split; 0: all)
    sample_tiles: int = 4  # val tiles shown in the sample grids
    num_workers: int = 0  # DataLoader processes; 0: in the main process (3 ms of a 230 ms step on 2 cores)
    seed: int = 0  # seeds models, data order and augmentation (a run is reproducible from it)
    device: str = "auto"  # auto (cuda when present), cpu or cuda
    precision: str = "auto"  # auto (bf16 autocast where the device runs it natively), fp32 or bf16
    degrade: str = "stored"  # LR of aerial-only datasets: stored (as prepared) or random (drawn per sample)
    degrade_sharp_prob: float = 0.25  # random: samples without blur (antialiased downsample only)
    degrade_sigma_max: float = 3.0  # random: largest blur sigma per axis, HR px (smallest 0.3)
    degrade_aniso_prob: float = 0.5  # random: anisotropic blurs
    degrade_noise_prob: float = 0.5  # random: samples with Gaussian noise
    degrade_noise_max: float = 3.0  # random: largest noise sigma, DN
    degrade_sharpen_prob: float = 0.2  # random: LR unsharp mask (vendor sharpening)
    degrade_second_prob: float = 0.2  # random: second-order LR blur
    degrade_jpeg_prob: float = 0.25  # random: JPEG round trip (quality 60-95)
    degrade_stored_prob: float = 0.0  # random: training crops that keep their stored LR (prepare's recipe)
    init_weights: str = ""  # start G from these weights (fine-tuning): gan, psnr, FILE or RUN_DIR; "": random

    def __post_init__(self) -> None:
        check(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def phase(self, done: int) -> str:
        """The phase that step `done` (1-based) belongs to."""
        return "pretrain" if done <= self.pretrain_steps else "adversarial"

    def pretrain_lr(self, step: int) -> float:
        """lr_pretrain, or its half cosine down to a tenth over the pretraining steps (a function of the step
        alone, so a resumed run follows the same curve)."""
        if self.lr_schedule == "constant":
            return self.lr_pretrain
        return self.lr_pretrain * (0.1 + 0.45 * (1 + math.cos(math.pi * step / self.pretrain_steps)))

    def adv_weight_at(self, step: int) -> float:
        """Linear ramp from 0 to adv_weight over adv_ramp_steps adversarial steps (stabilises the switch)."""
        if not self.adv_ramp_steps:
            return self.adv_weight
        return self.adv_weight * min(1.0, (step - self.pretrain_steps + 1) / self.adv_ramp_steps)

    def random_degradation(self) -> RandomDegradation | None:
        """The per-sample degradation range (degrade = random), else None (the datasets' stored LR)."""
        from satsr.degrade import RandomDegradation  # torch: only once a config is built

        if self.degrade == "stored":
            return None
        knobs = {f.name.removeprefix("degrade_"): getattr(self, f.name)
                 for f in fields(self) if f.name.startswith("degrade_")}  # fmt: skip
        return RandomDegradation(**knobs)


def check(cfg: TrainConfig) -> None:
    """Refuse values that cannot train, with the field to fix."""
    problems = []
    if cfg.steps < 1 or not 0 <= cfg.pretrain_steps <= cfg.steps:
        problems.append(
            f"need steps (--steps) >= 1 and 0 <= pretrain_steps (--pretrain-steps) <= steps "
            f"(got steps={cfg.steps}, pretrain_steps={cfg.pretrain_steps})"
        )
    if cfg.hr_crop < 8 or cfg.hr_crop % 4:
        problems.append(f"hr_crop must be a multiple of 4 and >= 8 (got {cfg.hr_crop})")
    if cfg.generator not in _generators():
        problems.append(f"generator must be one of {', '.join(_generators())} (got {cfg.generator!r})")
    from satsr.discriminator import D_HEADS, augment_policy
    from satsr.losses import ADV_LOSSES, PIXEL_LOSSES  # torch: only once a config is built, never for --help
    from satsr.models import UPSAMPLERS

    for name, value, known in (("degrade", cfg.degrade, DEGRADE_MODES), ("d_head", cfg.d_head, D_HEADS),
                               ("lr_schedule", cfg.lr_schedule, LR_SCHEDULES),
                               ("upsampler", cfg.upsampler, UPSAMPLERS),
                               ("adv_loss", cfg.adv_loss, tuple(ADV_LOSSES)),
                               ("pixel_loss", cfg.pixel_loss, tuple(PIXEL_LOSSES))):  # fmt: skip
        if value not in known:
            problems.append(f"{name} must be one of {', '.join(known)} (got {value!r})")
    try:
        augment_policy(cfg.d_augment)
    except ValueError as exc:
        problems.append(str(exc))
    if cfg.device not in DEVICES:
        problems.append(f"device must be one of {', '.join(DEVICES)} (got {cfg.device!r})")
    if cfg.precision not in PRECISIONS:
        problems.append(f"precision must be one of {', '.join(PRECISIONS)} (got {cfg.precision!r})")
    if not 0 <= cfg.label_smoothing < 0.5 or not 0 <= cfg.ema_decay < 1:
        problems.append("need 0 <= label_smoothing < 0.5 and 0 <= ema_decay < 1")
    positive = (
        "batch_size",
        "features",
        "blocks",
        "d_features",
        "log_every",
        "val_every",
        "checkpoint_every",
    )
    problems += [f"{name} must be >= 1" for name in positive if getattr(cfg, name) < 1]
    negative = ("d_unroll", "num_workers", "val_tiles", "sample_tiles", "adv_ramp_steps", "seed")
    problems += [f"{name} must be >= 0" for name in negative if getattr(cfg, name) < 0]
    weights = ("lr_pretrain", "lr_g", "lr_d", "pixel_weight", "fm_weight", "adv_weight", "gp_weight",
               "grad_clip", "d_highpass", "pixel_lowpass", "noise_init")  # fmt: skip
    problems += [f"{n} must be a finite number >= 0 (got {getattr(cfg, n)})" for n in weights
                 if not (math.isfinite(getattr(cfg, n)) and getattr(cfg, n) >= 0)]  # fmt: skip
    srresnet_only = [name for name in ("conditioned", "noise", "reparam") if getattr(cfg, name)]
    if cfg.generator != "srresnet" and srresnet_only:
        names = ", ".join(srresnet_only)
        problems.append(f"{names}: only generator 'srresnet' has this (got {cfg.generator!r})")
    if cfg.noise_init and not cfg.noise:
        problems.append("noise_init needs noise = true")
    if not (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1):
        problems.append(f"need 0 <= beta1, beta2 < 1 (got {cfg.beta1}, {cfg.beta2})")
    if not problems and cfg.degrade == "random":
        cfg.random_degradation()  # its own range checks
    if problems:
        raise UsageError(f"invalid training config: {'; '.join(problems)}")


def _generators() -> tuple[str, ...]:
    from satsr.generators import GENERATORS  # torch: only once a config is built, never for --help

    return tuple(GENERATORS)


def with_overrides(base: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """`base` with `overrides` applied (None values ignored); unknown names or wrong types are errors."""
    return replace(base, **_checked_overrides(base, overrides, source))


def _checked_overrides(base: TrainConfig, overrides: dict[str, Any], source: str) -> dict[str, Any]:
    known = {f.name: f for f in fields(TrainConfig)}
    clean: dict[str, Any] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        key = name.replace("-", "_")
        if key not in known:
            raise UsageError(f"{source}: unknown training option {name!r}; known: {', '.join(known)}")
        default = getattr(base, key)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default):
            raise UsageError(f"{source}: {name} must be {type(default).__name__}, got {value!r}")
        clean[key] = value
    return clean


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """`--set NAME=VALUE` items as options: each value read as a TOML value (48, 4e-4, true, "a b"), else
    as text (span, color,translation)."""
    options: dict[str, Any] = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--set {item}: give NAME=VALUE, e.g. --set features=48")
        try:
            options[name.strip()] = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            options[name.strip()] = text.strip()
    return options


def load_toml(path: str | Path) -> dict[str, Any]:
    """Options from a TOML file: top-level keys, or a [train] table."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file; check --config") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: invalid TOML ({exc}); fix the file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the config ({exc.strerror}); check --config") from None
    table = data.get("train", data)
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [train] must be a table of options; fix the file")
    return dict(table)


def resolve(
    toml_path: str | Path | None, cli: dict[str, Any], base: TrainConfig | None = None
) -> TrainConfig:
    """Defaults (or `base`, e.g. a checkpoint's config) <- TOML file <- CLI flags."""
    cfg = base or TrainConfig()
    merged = _checked_overrides(cfg, load_toml(toml_path), str(toml_path)) if toml_path is not None else {}
    merged |= _checked_overrides(cfg, cli, "command line")
    return replace(cfg, **merged)  # checked once, as a whole: a file and a flag may change related fields


def to_toml(cfg: TrainConfig) -> str:
    """The resolved config as TOML (flat [train] table; JSON quoting is valid TOML for these scalars)."""
    lines = ["# resolved satsr train configuration", "[train]"]
    for name, value in cfg.to_dict().items():
        text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def saved_config(run_dir: Path) -> TrainConfig | None:
    """The resolved config of an existing run (RUN_DIR/config.toml), the base when resuming."""
    from satsr.rundir import CONFIG

    path = Path(run_dir) / CONFIG
    return with_overrides(TrainConfig(), load_toml(path), str(path)) if path.exists() else None
