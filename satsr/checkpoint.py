"""Resumable checkpoints: models, optimisers, step, best scores, config and every RNG state.

Everything is stored as tensors or plain Python types so that `torch.load(weights_only=True)` (no pickle
code execution) reads it back. Writes are atomic: a SIGKILL leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satsr.errors import TrainingError
from satsr.outputs import atomic_output
from satsr.rundir import CHECKPOINT

FORMAT = 1  # bump when the layout below changes


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states as tensors and plain types."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(version), "state": list(py_state), "gauss": py_gauss},
    }  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write RUN_DIR/checkpoint.pt atomically (tmp file + os.replace)."""
    path = run_dir / CHECKPOINT
    buffer = io.BytesIO()  # serialised in memory: a failed write then raises OSError with its errno,
    torch.save({"format": FORMAT, **state, "rng": rng_state()}, buffer)  # not torch's "unexpected pos"
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return path


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """Read a checkpoint without executing pickle code; RNG states are restored by the caller."""
    path = run_dir / CHECKPOINT
    if not path.exists():
        raise TrainingError(f"{path}: no checkpoint to resume from; start the run without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused a pickled object: never unpickled
        raise TrainingError(
            f"{path}: holds pickled Python objects, which satsr does not load; not a satsr checkpoint, "
            "start afresh (--overwrite)"
        ) from None
    except Exception as exc:  # a truncated or foreign file: say so in one line
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TrainingError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {cause}); start afresh (--overwrite)"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise TrainingError(f"{path}: checkpoint format {found} is not {FORMAT}; start afresh (--overwrite)")
    return state
