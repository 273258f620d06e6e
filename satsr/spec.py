"""Architecture specs: frozen dataclasses that rebuild a network, stored in every weights file.

`Spec.from_dict` is the one reader of a stored architecture: fields the file lacks (written before the
field existed) take their default, names the spec does not know are ignored, and every value present is
type-checked (integers in 1..4096: a huge declared network must not allocate before its tensors are read).
No torch here: a spec can be read before any network is built.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, fields
from typing import Any, Self

MAX_SIZE = 4096  # no integer size in a spec exceeds this


class Spec:
    """Base of every generator's spec dataclass (subclasses are `@dataclass(frozen=True)`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The spec `data` declares; ValueError (one line, naming the field) for a value of the wrong kind."""
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            default = f.default if f.default is not MISSING else None
            value = data.get(f.name, default)
            if isinstance(default, int) and not isinstance(default, bool):
                if type(value) is not int or not 1 <= value <= MAX_SIZE:
                    raise ValueError(f"architecture {f.name} is {value!r}, not an integer in 1..{MAX_SIZE}")
            elif isinstance(default, str) and not isinstance(value, str):
                raise ValueError(f"architecture {f.name} is {value!r}, not a string")
            values[f.name] = value
        return cls(**values)

    def describe(self) -> str:
        """The sizes that tell two networks of this architecture apart, for `satsr info`."""
        skip = ("bands", "scale")
        return ", ".join(f"{v} {k}" for k, v in self.to_dict().items() if k not in skip)
