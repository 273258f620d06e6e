"""One error root. Every message says what went wrong, where, and what to do; only cli.py catches them."""


class SatsrError(Exception):
    """Base of every error satsr reports to the user as one line."""

    exit_code = 1


class UsageError(SatsrError):
    """The command line itself is wrong (unknown metric, bad option value)."""

    exit_code = 2


class DataError(SatsrError):
    """An input raster or dataset cannot be used as it is."""


class GeoMismatchError(DataError):
    """Two rasters that must describe the same place do not (CRS, footprint, pixel size)."""


class WeightsError(SatsrError):
    """A weights file is missing, corrupt, or does not fit the input."""


class OutputExistsError(SatsrError):
    """The destination exists and --overwrite was not given."""


class TrainingError(SatsrError):
    """Training cannot go on (diverged, incompatible checkpoint)."""


class OutputError(SatsrError):
    """An output cannot be written (no space, read-only, no permission, a parent is a file)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwinds like Ctrl-C (temporaries removed), then exit 128 + signal.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it; not a
    KeyboardInterrupt, which typer turns into a silent exit before the CLI can say what happened.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
