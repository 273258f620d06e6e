"""Bounded-memory writing of a scene's tile stacks: append to raw files, then emit the final .npy files.

Tiles are appended as raw bytes while the scene is read (the number of kept tiles is unknown until the
end), then copied tile by tile into `NAME_lr.npy` / `NAME_hr.npy` behind a standard .npy header, leaving
out the tiles the spatial split dropped. Memory holds one tile at a time, whatever the scene size.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from satsr.manifest import scene_paths


class SceneStack:
    """Raw LR/HR tile stacks of one scene under construction, plus LR pixel samples per tile."""

    def __init__(self, root: Path, scene: str, dtype: str):
        self.root, self.scene, self.dtype = root, scene, np.dtype(dtype)
        lr_path, hr_path = scene_paths(root, scene)
        self.raw = (lr_path.with_suffix(".raw"), hr_path.with_suffix(".raw"))
        self.shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self.samples: list[np.ndarray] = []  # (C, k) valid LR pixels of each tile, for normalisation
        self.count = 0
        self._files: list[BinaryIO] = []

    def __enter__(self) -> SceneStack:
        self._files = [open(p, "ab") for p in self.raw]  # noqa: SIM115 (closed in __exit__)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for f in self._files:
            f.close()

    def append(self, lr: np.ndarray, hr: np.ndarray, samples: np.ndarray) -> None:
        shapes = (lr.shape, hr.shape)
        if self.shapes is None:
            self.shapes = shapes
        assert shapes == self.shapes and lr.dtype == hr.dtype == self.dtype
        self._files[0].write(np.ascontiguousarray(lr).tobytes())
        self._files[1].write(np.ascontiguousarray(hr).tobytes())
        self.samples.append(samples)
        self.count += 1

    def finish(self, keep: list[bool], shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
        """Write the .npy stacks with the tiles where `keep` is True (in order); remove the raw files."""
        assert len(keep) == self.count
        for raw, final, shape in zip(self.raw, scene_paths(self.root, self.scene), shapes, strict=True):
            size = int(np.prod(shape)) * self.dtype.itemsize
            header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                      "shape": (sum(keep), *shape)}  # fmt: skip
            with open(raw, "rb") as src, open(final, "wb") as dst:
                np.lib.format.write_array_header_2_0(dst, header)
                for i, k in enumerate(keep):
                    if k:
                        src.seek(i * size)
                        dst.write(src.read(size))
            raw.unlink()
