"""satsr train: both phases end to end, exported weights, config resolution, refusals, divergence guard."""

from __future__ import annotations

import copy
import csv
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from satsr.cli import app
from satsr.config import TrainConfig, parse_assignments, resolve, saved_config, to_toml
from satsr.errors import DataError, OutputExistsError, TrainingError, UsageError, WeightsError
from satsr.normalise import Normalisation
from satsr.reparam import reparameterise
from satsr.train import run_training
from satsr.weights import load_weights
from tests.support import TINY_TRAIN

TINY = {**TINY_TRAIN, "hr_crop": 32, "batch_size": 4, "sample_tiles": 2}


def tiny(**kw: object) -> TrainConfig:
    return TrainConfig(**{**TINY, "steps": 4, "pretrain_steps": 2, **kw})  # type: ignore[arg-type]


def write_toml(path: Path, **kw: object) -> Path:
    lines = [f"{k} = {v!r}".replace("'", '"') for k, v in {**TINY, **kw}.items()]
    path.write_text("\n".join(["[train]", *lines, ""]))
    return path


def test_cli_end_to_end_two_datasets(make_prepared: Callable[..., Path], tmp_path: Path) -> None:
    a, b = make_prepared("a", lr_tile=12), make_prepared("b", lr_tile=12, seed=1)
    toml = write_toml(tmp_path / "tiny.toml")
    run = tmp_path / "run"
    args = ["train", str(a), str(b), "-o", str(run), "--config", str(toml), "--steps", "4"]
    result = CliRunner().invoke(app, [*args, "--pretrain-steps", "2", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    for name in ("psnr", "best", "final"):
        assert (run / f"{name}.safetensors").is_file()
    assert {"config.toml", "log.csv", "curves.png", "checkpoint.pt"} <= {p.name for p in run.iterdir()}
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    loaded = load_weights(run)  # a run with an adversarial phase resolves to its GAN
    assert loaded.path == run / "final.safetensors"
    meta = loaded.metadata
    assert meta["training"]["config"]["batch_size"] == 3 and meta["training"]["config"]["hr_crop"] == 32
    # outside the working folder a dataset is recorded by name: no developer's absolute path in weights
    assert [d["path"] for d in meta["datasets"]] == [a.name, b.name]
    assert meta["lr_gsd_m"] == pytest.approx([0.3, 0.3], rel=1e-3)  # measured from the LR grids
    assert {"val_psnr", "val_psnr_bicubic", "val_mse"} <= set(meta["val"])
    final = load_weights(run / "final.safetensors").metadata
    assert final["phase"] == "adversarial" and final["step"] == 4
    psnr = load_weights(run / "psnr.safetensors").metadata
    assert psnr["phase"] == "pretrain" and psnr["step"] == 2
    assert saved_config(run) == TrainConfig(**{**TINY, "steps": 4, "pretrain_steps": 2, "batch_size": 3})
    with (run / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    adversarial = [r for r in rows if r["phase"] == "adversarial" and r["loss_d"]]
    assert adversarial and all(0 <= float(r["d_acc"]) <= 1 and float(r["d_real"]) > 0 for r in adversarial)
    assert [int(r["step"]) for r in rows if r["val_psnr"]] == [2, 4]
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 4 and checkpoint["config"]["batch_size"] == 3


@pytest.mark.parametrize("pixel_loss", ["l1", "mse"])
def test_generator_learns_beyond_bicubic(
    make_prepared: Callable[..., Path], tmp_path: Path, pixel_loss: str
) -> None:
    data = make_prepared(lr_tile=12, tiles={"train": 8, "val": 2})
    cfg = tiny(steps=30, pretrain_steps=30, val_every=30, checkpoint_every=30, log_every=10, lr_pretrain=2e-3,
               pixel_loss=pixel_loss)  # fmt: skip
    result = run_training([data], tmp_path / "run", cfg)
    val = result.final_val
    assert val["val_psnr"] > val["val_psnr_bicubic"] + 0.05, val


@pytest.mark.parametrize("adv_loss", ["ragan", "wgan-gp"])
def test_other_adversarial_losses_and_unrolled_d(
    make_prepared: Callable[..., Path], tmp_path: Path, adv_loss: str
) -> None:
    data = make_prepared(lr_tile=8)
    cfg = tiny(steps=3, pretrain_steps=1, adv_loss=adv_loss, d_unroll=2, sample_tiles=0)
    calls: list[tuple[str, int, int]] = []
    result = run_training([data], tmp_path / "run", cfg, progress=lambda *a: calls.append(a))
    assert result.step == 3 and np.isfinite(result.final_val["val_psnr"])
    validating = [c for c in calls if c[0] == "validate"]  # validation moves a bar of its own
    assert validating[0][1] == 0 and validating[-1][1] == validating[-1][2] > 0


def test_existing_run_refused_then_overwritten(make_prepared: Callable[..., Path], tmp_path: Path) -> None:
    data = make_prepared(lr_tile=8)
    cfg = tiny(steps=1, pretrain_steps=1, sample_tiles=0)
    run_training([data], tmp_path / "run", cfg)
    with pytest.raises(OutputExistsError, match="--resume"):
        run_training([data], tmp_path / "run", cfg)
    run_training([data], tmp_path / "run", cfg, overwrite=True)
    with pytest.raises(TrainingError, match="no checkpoint"):
        run_training([data], tmp_path / "fresh", cfg, resume=True)


def test_init_weights_start_the_generator(make_prepared: Callable[..., Path], tmp_path: Path) -> None:
    data = make_prepared(lr_tile=8)
    run_training([data], tmp_path / "a", tiny(steps=2, pretrain_steps=2))
    trained = load_weights(tmp_path / "a" / "final.safetensors").generator.state_dict()
    # Learning rate 0: G, and so its EMA, must stay exactly the weights it started from.
    frozen = tiny(steps=2, pretrain_steps=2, lr_pretrain=0.0, init_weights=str(tmp_path / "a"))
    run_training([data], tmp_path / "b", frozen)
    started = load_weights(tmp_path / "b" / "final.safetensors")
    assert started.metadata["training"]["config"]["init_weights"] == str(tmp_path / "a")
    for name, tensor in started.generator.state_dict().items():
        assert torch.equal(tensor, trained[name]), name
    run_training([data], tmp_path / "c", tiny(steps=2, pretrain_steps=2, lr_pretrain=0.0))
    fresh = load_weights(tmp_path / "c" / "final.safetensors").generator.state_dict()
    assert any(not torch.equal(fresh[k], trained[k]) for k in trained)  # without init: other weights


def test_a_deeper_run_starts_from_shallower_weights(
    make_prepared: Callable[..., Path], tmp_path: Path
) -> None:
    data = make_prepared(lr_tile=8)
    run_training([data], tmp_path / "a", tiny(steps=2, pretrain_steps=2, sample_tiles=0))
    shallow = load_weights(tmp_path / "a" / "final.safetensors").generator
    frozen = tiny(steps=2, pretrain_steps=2, lr_pretrain=0.0, blocks=3, init_weights=str(tmp_path / "a"))
    run_training([data], tmp_path / "b", frozen)
    deep = load_weights(tmp_path / "b" / "final.safetensors").generator
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert deep.spec.blocks == 3 and torch.equal(deep.eval()(x), shallow.eval()(x))
    refusal = r"\(3, 8, 3, 'x2-stages', False\) differ .* \(blocks: theirs or more\)"
    with pytest.raises(WeightsError, match=refusal):
        run_training([data], tmp_path / "c", tiny(init_weights=str(tmp_path / "b")))  # no shallower


def test_a_reparameterised_run_trains_branches_and_exports_one_conv_each(
    make_prepared: Callable[..., Path], tmp_path: Path
) -> None:
    data = make_prepared(lr_tile=8)
    run_training([data], tmp_path / "a", tiny(steps=2, pretrain_steps=2, sample_tiles=0))
    plain = load_weights(tmp_path / "a" / "final.safetensors").generator.eval()
    frozen = tiny(steps=2, pretrain_steps=2, lr_pretrain=0.0, reparam=True, init_weights=str(tmp_path / "a"))
    run_training([data], tmp_path / "b", frozen)
    run_training([data], tmp_path / "c", replace(frozen, lr_pretrain=1e-2))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        same = load_weights(tmp_path / "b" / "final.safetensors").generator.eval()
        assert torch.equal(same(x), plain(x))  # starts as exactly its init_weights
        trained = load_weights(tmp_path / "c" / "final.safetensors").generator.eval()
        assert trained.state_dict().keys() == plain.state_dict().keys()  # a plain srresnet file
        ema = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)["ema"]
        assert ema["trunk.0.body.0.squeeze.weight"].any()  # the branches trained
        multi = reparameterise(copy.deepcopy(plain))
        multi.load_state_dict(ema)
        torch.testing.assert_close(trained(x), multi(x), rtol=0, atol=1e-5)
    with pytest.raises(TrainingError, match=r"another architecture \(reparam True -> False\)"):
        run_training([data], tmp_path / "c", replace(frozen, reparam=False, steps=3), resume=True)


def test_a_noise_injected_run_starts_from_weights_without_noise(
    make_prepared: Callable[..., Path], tmp_path: Path
) -> None:
    data = make_prepared(lr_tile=8)
    run_training([data], tmp_path / "a", tiny(steps=2, pretrain_steps=2, sample_tiles=0))
    trained = load_weights(tmp_path / "a" / "final.safetensors").generator.state_dict()
    frozen = tiny(steps=2, pretrain_steps=2, lr_pretrain=0.0, noise=True, init_weights=str(tmp_path / "a"))
    run_training([data], tmp_path / "b", frozen)
    started = load_weights(tmp_path / "b" / "final.safetensors").generator
    assert started.spec.noise and "noise-injected" in started.spec.describe()
    for name, tensor in started.state_dict().items():  # the init's weights, and injections at zero
        assert torch.equal(tensor, trained[name]) if name in trained else not tensor.any(), name
    with pytest.raises(WeightsError, match=r"\(3, 8, 1, 'x2-stages', False, True\) differ"):
        run_training([data], tmp_path / "c", tiny(init_weights=str(tmp_path / "b")))  # no way back
    drawn = tiny(steps=2, pretrain_steps=2, lr_pretrain=0.0, noise=True, noise_init=0.01,
                 init_weights=str(tmp_path / "a"))  # fmt: skip
    run_training([data], tmp_path / "d", drawn)
    injections = load_weights(tmp_path / "d" / "final.safetensors").generator.noise_in
    assert all(0.005 < inject.weight.std().item() < 0.02 for inject in injections.requires_grad_(False))
    with pytest.raises(UsageError, match="noise_init needs noise = true"):
        run_training([data], tmp_path / "e", tiny(noise_init=0.01))


def test_init_weights_that_do_not_fit(make_prepared: Callable[..., Path], tmp_path: Path) -> None:
    data = make_prepared(lr_tile=8)
    run_training([data], tmp_path / "a", tiny(steps=1, pretrain_steps=1, sample_tiles=0))
    want = r"\(3, 8, 1, 'x2-stages', False\) differ from this run's \(3, 16, 1, "
    with pytest.raises(WeightsError, match=want):  # wider cannot start from them (deeper can: grown)
        run_training([data], tmp_path / "b", tiny(features=16, init_weights=str(tmp_path / "a")))
    with pytest.raises(WeightsError, match=r"run's \(3, 8, 1, 'shuffle-direct', False\)"):
        direct = tiny(upsampler="shuffle-direct", init_weights=str(tmp_path / "a"))
        run_training([data], tmp_path / "b", direct)
    stretched = make_prepared("stretched", normalisation=Normalisation("uint8", (10.0,) * 3, (200.0,) * 3))
    with pytest.raises(WeightsError, match="normalisation"):
        run_training([stretched], tmp_path / "c", tiny(init_weights=str(tmp_path / "a")))
    with pytest.raises(WeightsError, match="no such weights file"):
        run_training([data], tmp_path / "d", tiny(init_weights=str(tmp_path / "missing.safetensors")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "data", "stretched"]  # no run dir was made


def test_datasets_that_cannot_be_mixed(make_prepared: Callable[..., Path], tmp_path: Path) -> None:
    rgb, grey = make_prepared("rgb"), make_prepared("grey", bands=1)
    with pytest.raises(DataError, match="bands 1 differs"):
        run_training([rgb, grey], tmp_path / "run", tiny())
    stretched = make_prepared("stretched", normalisation=Normalisation("uint8", (10.0,) * 3, (200.0,) * 3))
    with pytest.raises(DataError, match="normalisation"):
        run_training([rgb, stretched], tmp_path / "run", tiny())
    with pytest.raises(DataError, match="hr_crop 64 exceeds"):
        run_training([rgb], tmp_path / "run", tiny(hr_crop=64))  # tiles are 32 px HR
    with pytest.raises(DataError, match="not a satsr dataset"):
        run_training([tmp_path], tmp_path / "run", tiny())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_divergence_stops_the_run_and_writes_no_weights(
    make_prepared: Callable[..., Path], tmp_path: Path, precision: str
) -> None:
    data = make_prepared(lr_tile=8)
    cfg = tiny(steps=6, pretrain_steps=6, lr_pretrain=1e10, grad_clip=0.0, val_every=99, checkpoint_every=99,
               precision=precision)  # fmt: skip
    with pytest.raises(TrainingError, match="diverged at step"):
        run_training([data], tmp_path / "run", cfg)
    assert not list((tmp_path / "run").glob("*.safetensors"))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_config_precedence_and_errors(tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "c.toml", steps=100, adv_loss="ragan")
    cfg = resolve(toml, {"pretrain_steps": 50, "batch_size": None})
    assert (cfg.steps, cfg.pretrain_steps, cfg.adv_loss, cfg.hr_crop) == (100, 50, "ragan", 32)
    assert resolve(toml, {"steps": 60, "pretrain_steps": 60}).steps == 60  # the flag wins over the file
    assert resolve(None, {}) == TrainConfig()
    assert TrainConfig().batch_size == 16 and TrainConfig().hr_crop == 96
    round_trip = tmp_path / "round.toml"
    round_trip.write_text(to_toml(cfg))
    assert resolve(round_trip, {}) == cfg
    with pytest.raises(UsageError, match="unknown training option 'stepz'"):
        resolve(None, {"stepz": 3})
    with pytest.raises(UsageError, match="steps must be int"):
        resolve(None, {"steps": "many"})
    with pytest.raises(UsageError, match="adv_loss must be one of"):
        TrainConfig(adv_loss="hinge")
    with pytest.raises(UsageError, match=r"pixel_loss must be one of l1, mse \(got 'l2'\)"):
        TrainConfig(pixel_loss="l2")
    with pytest.raises(UsageError, match="precision must be one of auto, fp32, bf16"):
        TrainConfig(precision="fp16")
    with pytest.raises(UsageError, match="--pretrain-steps"):
        TrainConfig(steps=10, pretrain_steps=20)
    with pytest.raises(UsageError, match="no such config file"):
        resolve(tmp_path / "missing.toml", {})


def test_set_overrides_any_field_over_the_file(tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "c.toml", steps=100, features=16)
    items = ["features=8", "generator=span", "lr_pretrain=4e-4", "noise_init=0", "reparam=false",
             "d_augment=color,translation", "degrade = random"]  # fmt: skip
    sets = parse_assignments(items)
    cfg = resolve(toml, sets | {"steps": 60, "pretrain_steps": 60})
    assert (cfg.features, cfg.generator, cfg.lr_pretrain, cfg.noise_init) == (8, "span", 4e-4, 0.0)
    assert (cfg.d_augment, cfg.degrade, cfg.reparam, cfg.steps) == ("color,translation", "random", False, 60)
    with pytest.raises(UsageError, match="--set features: give NAME=VALUE"):
        parse_assignments(["features"])
    with pytest.raises(UsageError, match="unknown training option 'featurez'"):
        resolve(None, parse_assignments(["featurez=8"]))
    with pytest.raises(UsageError, match=r"features must be int, got 8\.5"):
        resolve(None, parse_assignments(["features=8.5"]))


def test_cli_errors_are_one_line(make_prepared: Callable[..., Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    data = make_prepared()
    cmd = [sys.executable, "-m", "satsr", "train", str(data), "-o", str(tmp_path / "r"), "--steps", "3"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pretrain_steps (--pretrain-steps) <= steps" in result.stderr
    missing = tmp_path / "missing.safetensors"
    cmd = [*cmd[:-2], "--steps", "2", "--pretrain-steps", "1", "--init", str(missing)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and str(missing) in result.stderr
    result = subprocess.run([*cmd[:-2], "--set", "blocks"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "--set blocks: give NAME=VALUE" in result.stderr
    assert not (tmp_path / "r").exists()
