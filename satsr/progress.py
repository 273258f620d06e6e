"""How tools report progress without printing: a callback the CLI wires to a rich progress bar."""

from __future__ import annotations

from collections.abc import Callable

# report(task, completed, total): `task` names the stage, `completed` of `total` units are done. A task
# "STAGE: ITEM" is the stage's one bar, now at ITEM (e.g. "tiles: dar_es_salaam" for each scene in turn).
Progress = Callable[[str, int, int], None]


def silent(task: str, completed: int, total: int) -> None:
    """The default callback: tools used as a library report nothing."""
