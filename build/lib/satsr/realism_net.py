"""The judge of the realism test: a small LeakyReLU CNN trained from scratch to tell two sets of crops apart.

It is not the training discriminator and shares nothing with it: its own random initialisation from
the test's seed, its own (much smaller) architecture, trained only on the crops of one half of the
scored places. Global average pooling makes it independent of the crop size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from satsr.realism import NetConfig

EVAL_BATCH = 256  # crops per forward pass when predicting (memory only; results do not depend on it)


def make_classifier(bands: int, width: int) -> nn.Sequential:
    """Full-resolution first layer (the finest detail is what separates SR from aerial imagery), then
    three stride-2 stages, global average pooling and one logit (> 0: 'real')."""
    w, w2 = width, 2 * width
    return nn.Sequential(
        nn.Conv2d(bands, w, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, w, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, w2, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(w2, w2, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w2, 1),
    )  # fmt: skip


def train_classifier(crops: np.ndarray, labels: np.ndarray, config: NetConfig) -> nn.Sequential:
    """Fit a fresh classifier on (N, C, S, S) crops with 0/1 labels; random flips and 90-degree rotations
    (the same for a whole batch) keep it from learning the orientation of shadows or roads."""
    rng = np.random.default_rng(config.seed)
    with torch.random.fork_rng(devices=[]):  # leaves the caller's RNG state untouched
        torch.manual_seed(config.seed)
        net = make_classifier(crops.shape[1], config.width)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    target = torch.from_numpy(labels.astype(np.float32))
    net.train()
    for _ in range(config.steps):
        rows = rng.integers(0, len(crops), config.batch)
        x = torch.from_numpy(crops[rows].astype(np.float32))
        x = torch.rot90(x, int(rng.integers(4)), dims=(2, 3))
        if rng.integers(2):
            x = torch.flip(x, dims=(3,))
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(net(x).squeeze(1), target[rows])
        loss.backward()
        optimiser.step()
    return net.eval()


def predict(net: nn.Module, crops: np.ndarray) -> np.ndarray:
    """Logits (> 0: taken for real) of (N, C, S, S) crops."""
    out = []
    with torch.inference_mode():
        for b in range(0, len(crops), EVAL_BATCH):
            out.append(net(torch.from_numpy(crops[b : b + EVAL_BATCH].astype(np.float32))).squeeze(1))
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)
