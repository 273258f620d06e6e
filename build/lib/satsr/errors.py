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
