"""Where satsr writes: atomic outputs under recognisable temporary names, one line for every write failure,
and the rule that no command writes over one of its inputs.

A temporary is the hidden sibling `.NAME.satsr-HOST-PID.tmp` of its final NAME (a staging file may add a
suffix). A run killed by SIGKILL or a power cut leaves it behind; the next atomic write of the same NAME
removes the temporaries whose process is gone (same host, dead PID). Those of other hosts or of running
processes are left alone: on a shared folder they may belong to a run still going.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from satsr.errors import OutputError, OutputExistsError, SatsrError, UsageError

TEMP_MARK = ".satsr-"  # between the final name and HOST-PID in every temporary's name
# what to do about each cause of a failed write (errno -> the fix); the message names the file and cause
FIXES = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EROFS: "write elsewhere",
    errno.EACCES: "write elsewhere or fix the folder's permissions",
    errno.EPERM: "write elsewhere or fix the folder's permissions",
    errno.EFBIG: "the file is too large for this file system; write elsewhere",
    errno.EIO: "the disk reported an I/O error; check it or write elsewhere",
}
NEARLY_FULL = 1 << 20  # free bytes under which a write failure without a stated cause is a full disk
_GDAL_LOGGERS = ("rasterio", "rasterio._err", "rasterio._env", "rasterio._io")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def temp_path(final: Path) -> Path:
    """The hidden temporary sibling of `final` written by this process."""
    return final.with_name(f".{final.name}{TEMP_MARK}{_host()}-{os.getpid()}.tmp")


def stale_temporaries(final: Path) -> list[Path]:
    """Temporaries of `final` left by dead processes of this host (also the older `.NAME.PID.tmp` form)."""
    if not final.parent.is_dir():
        return []
    pattern = re.compile(
        rf"^\.{re.escape(final.name)}(?:{re.escape(TEMP_MARK)}(?P<host>[A-Za-z0-9]+)-|\.)(?P<pid>\d+)\.tmp"
    )
    stale = []
    for path in final.parent.iterdir():
        match = pattern.match(path.name)
        if match and match["host"] in (None, _host()) and not _alive(int(match["pid"])):
            stale.append(path)
    return stale


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def atomic_output(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto `final` only when the block completes.

    Works for files and directories. On any exception or signal the temporary is removed and `final` is
    untouched; after SIGKILL only a temporary can remain (removed by the next write of `final`). A failed
    write (no space, read-only, permission, parent is a file) becomes one OutputError naming `final`.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise OutputExistsError(f"{final}: already exists; pass --overwrite to replace it")
    tmp = temp_path(final)
    with write_errors(final, cleanup=tmp):
        _make_parent(final)
        for path in [*stale_temporaries(final), tmp]:
            remove(path)
        yield tmp
        _replace(tmp, final)


def _replace(tmp: Path, final: Path) -> None:
    """Move `tmp` onto `final`; a folder being replaced is set aside first and restored if the move fails."""
    if not final.exists():
        os.replace(tmp, final)
        return
    if tmp.is_dir() != final.is_dir():
        kind = "a folder" if final.is_dir() else "a file"
        raise UsageError(f"{final}: is {kind}; satsr will not replace it by another kind, choose another")
    if not final.is_dir():
        os.replace(tmp, final)  # atomic over an existing file
        return
    old = tmp.with_name(f"{tmp.name}.old")
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)
        raise
    remove(old)


def _make_parent(final: Path) -> None:
    for parent in [final.parent, *final.parent.parents]:
        if parent.exists() and not parent.is_dir():
            message = f"{final}: cannot create it, {parent} is a file, not a folder; choose another path"
            raise OutputError(message)
    final.parent.mkdir(parents=True, exist_ok=True)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


class _GdalLog(logging.Handler):
    """Keeps GDAL's messages (rasterio logs them) instead of printing them: the cause of a failed write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages = [*self.messages[-19:], record.getMessage()]


@contextmanager
def write_errors(final: Path, cleanup: Path | None = None) -> Iterator[None]:
    """Turn OS, GDAL, torch and safetensors write failures inside the block into one OutputError; on any
    exception or signal remove `cleanup` (after the diagnosis, which may look at the free space)."""
    log = _GdalLog()
    loggers = [logging.getLogger(name) for name in _GDAL_LOGGERS]
    saved = [(lg, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(log)
        lg.propagate = False
    try:
        yield
    except BaseException as exc:
        error = None
        if isinstance(exc, Exception) and not isinstance(exc, SatsrError):
            error = write_error(final, exc, log.messages)
        if cleanup is not None:
            remove(cleanup)
        if error is None:
            raise
        raise error from None
    finally:
        for lg, propagate in saved:
            lg.removeHandler(log)
            lg.propagate = propagate


def write_error(final: Path, exc: BaseException, extra: Iterable[str] = ()) -> OutputError | None:
    """One line naming `final`, the cause and the fix; None when `exc` is not a failed write."""
    chain = _chain(exc)
    known = (*FIXES, errno.ENOTDIR)
    code = next((e.errno for e in chain if isinstance(e, OSError) and e.errno in known), None)
    if code is None:
        texts = _texts(chain, extra)
        code = next((c for c in known for t in texts if os.strerror(c) in t), None)
    if code == errno.ENOTDIR:
        return OutputError(f"{final}: cannot create it, a parent is a file, not a folder; choose another")
    free = _free_bytes(final)
    if code is None and _is_write_failure(chain) and free is not None and free < NEARLY_FULL:
        code = errno.ENOSPC  # GDAL's message lost the errno (libtiff printed it, or nothing)
    if code is not None:
        return OutputError(f"{final}: cannot write ({os.strerror(code).lower()}); {FIXES[code]}")
    if not _is_write_failure(chain):
        return None
    cause = _root_message(chain, extra)
    return OutputError(f"{final}: cannot write ({cause}); check the disk or write elsewhere")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _texts(chain: list[BaseException], extra: Iterable[str]) -> list[str]:
    return [str(e) for e in chain] + list(extra)


def _is_write_failure(chain: list[BaseException]) -> bool:
    """OS and GDAL errors, safetensors and torch serialisation failures; not programming errors."""
    names = {type(e).__name__ for e in chain}
    texts = " ".join(str(e) for e in chain)
    return (
        any(isinstance(e, OSError) for e in chain)
        or any(n.startswith("CPLE_") or n == "SafetensorError" for n in names)
        or "inline_container" in texts
        or "iostream error" in texts
    )


def _root_message(chain: list[BaseException], extra: Iterable[str]) -> str:
    """The deepest message that says something (GDAL's outer ones say 'See previous exception')."""
    texts = [t for t in (*reversed([str(e) for e in chain]), *reversed(list(extra))) if t.strip()]
    useful = [t for t in texts if "previous exception" not in t]
    return first_line((useful or texts or ["unknown error"])[0])


def first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def gdal_cause(exc: BaseException) -> str:
    """The root cause of a rasterio/GDAL error in one line (not 'See previous exception for details')."""
    return _root_message(_chain(exc), ())


def _free_bytes(final: Path) -> int | None:
    for folder in [final.parent, *final.parent.parents]:
        if folder.is_dir():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


def refuse_inputs(
    outputs: Iterable[Path | None], inputs: Iterable[Path | None], what: str = "output"
) -> None:
    """No command writes over one of its inputs: an output may not be an input, nor a folder holding one.

    Checked with and without --overwrite, before any work. Paths are compared resolved (links followed).
    """
    sources = [(p, p.resolve()) for p in inputs if p is not None]
    chosen = [(p, p.resolve()) for p in outputs if p is not None]
    for out, out_r in chosen:
        for src, src_r in sources:
            if out_r == src_r or out_r in src_r.parents:
                held = "is" if out_r == src_r else "holds"
                raise UsageError(
                    f"{out}: this {what} {held} an input of the command ({src}); choose another path"
                )
    seen: dict[Path, Path] = {}
    for out, out_r in chosen:
        if out_r in seen:
            raise UsageError(f"{out}: given for two outputs ({seen[out_r]} too); give each its own path")
        seen[out_r] = out
