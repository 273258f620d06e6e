"""Parsers of the CLI's comma-separated options: a clear usage error names the option and what it expects."""

from __future__ import annotations

from satsr.errors import UsageError


def parse_floats(text: str, option: str, count: int) -> list[float]:
    """'1.6,2.4' -> [1.6, 2.4] (exactly `count` numbers); a clear usage error otherwise."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise UsageError(f"{option} {text!r}: expected {count} comma-separated number(s)")
    return values


def parse_int_list(text: str | None, option: str) -> list[int] | None:
    """'1,2,3' -> [1, 2, 3]; a clear usage error otherwise."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected comma-separated integers such as 1,2,3") from None
