"""Panchromatic from RGB: the luminance that `satsr prepare --luminance` trains the pan model on, and the
exact folding of an RGB generator into a 1-band one (the pan model's starting point).

Luminance is Rec. 601 luma, Y = 0.299 R + 0.587 G + 0.114 B on the stored (gamma-encoded) values: what
GDAL, PIL (`convert("L")`) and OpenCV call grey for 8-bit RGB. No RGB weighting is a pan sensor's response
(WorldView pan spans 450-800 nm, red edge and near infrared included); Rec. 601 is the convention, and the
model learns detail, not a spectral response.
"""

from __future__ import annotations

import numpy as np
import torch

LUMA_REC601 = (0.299, 0.587, 0.114)  # R, G, B weights (sum 1: a grey RGB pixel keeps its value)
LUMINANCE_NAME = "rec601"  # recorded in the manifest's settings (`luminance`) and the pan weights


def to_luminance(x: np.ndarray) -> np.ndarray:
    """(3, H, W) RGB -> (1, H, W) Rec. 601 luma in the input dtype (integers rounded, never out of range)."""
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"luminance needs (3, H, W) RGB, got {x.shape}")
    w = np.asarray(LUMA_REC601, dtype=np.float32).reshape(3, 1, 1)
    y = (x.astype(np.float32) * w).sum(axis=0, keepdims=True)
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(x.dtype)
    return y.astype(x.dtype)


def fold_to_luminance(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of an RGB generator -> that of a 1-band generator, exact for grey images.

    A grey image g fed as (g, g, g) reaches the head as sum_c W[:, c] * g: the head's weights summed over
    input channels. The output is bicubic(g) per band plus the tail's residual; its luminance is
    bicubic(g) (the weights sum to 1) plus the luminance-weighted sum of the tail's output channels. So the
    folded model on g equals the luminance of the RGB model on (g, g, g).
    """
    w = torch.tensor(LUMA_REC601, dtype=state["tail.weight"].dtype)
    out = dict(state)
    out["head.weight"] = state["head.weight"].sum(dim=1, keepdim=True)
    out["tail.weight"] = torch.einsum("c,cfyx->fyx", w, state["tail.weight"]).unsqueeze(0)
    out["tail.bias"] = (w * state["tail.bias"]).sum().reshape(1)
    return {k: v.contiguous() for k, v in out.items()}
