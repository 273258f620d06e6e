"""Process-wide behaviour of the satsr command: signals unwind like Ctrl-C, libtiff stays quiet.

Used by cli.py only; tools never install handlers or print.
"""

from __future__ import annotations

import ctypes
import glob
import os
import signal

from satsr.errors import Interrupted


def quiet_libtiff() -> None:
    """Stop libtiff's default handler printing raw lines ("_tiffWriteProc: No space left on device.")
    on stderr: GDAL reports the failure itself, and satsr turns it into its one line. Only for the libtiff
    bundled with rasterio's wheels (loaded with rasterio, hence called by the commands that write
    GeoTIFFs); elsewhere nothing changes."""
    import rasterio  # loads the libtiff to quiet (not at module level: `satsr --help` stays light)

    libs = os.path.join(os.path.dirname(rasterio.__file__), "..", "rasterio.libs")
    found = glob.glob(os.path.join(libs, "libtiff-*.so*"))
    try:
        libtiff = ctypes.CDLL(found[0])
        libtiff.TIFFSetErrorHandler.restype = ctypes.c_void_p
        libtiff.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
        libtiff.TIFFSetErrorHandler(None)
    except (IndexError, OSError, AttributeError):
        return


def handle_signals() -> None:
    """SIGINT and SIGTERM unwind like Ctrl-C (temporaries removed) and then print one line.

    A repeated signal is ignored while the first one unwinds, so the clean-up runs to its end (SIGKILL
    still stops everything; its temporaries are removed by the next run on the same output).
    """
    pid, fired = os.getpid(), list[int]()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != pid:  # a forked worker (DataLoader) leaves the way torch expects
            raise KeyboardInterrupt
        if not fired:
            fired.append(signum)
            raise Interrupted(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
