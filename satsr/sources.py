"""Raster inputs as GDAL names them: local files stay `Path`s, everything GDAL opens through a virtual file
system (http(s)://, s3://, gs://, az://, /vsicurl/, /vsis3/, /vsizip/ ...) stays the exact string given.

`Path("http://host/a.tif")` is `http:/host/a.tif`: a URL must never pass through `Path`. No I/O here and
no heavy imports, so the CLI can use it before importing rasterio.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

Source = str | Path  # a local file (Path) or a GDAL virtual path / URL (str)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # http://, https://, s3://, gs://, az://, file:// ...
_VSI = re.compile(r"^/vsi[a-z0-9_]+[/?]")  # /vsicurl/, /vsis3/, /vsizip/, /vsigzip/, /vsimem/ ...


def is_virtual(text: str | Path) -> bool:
    """True for URLs and GDAL /vsi paths: opened by GDAL, never checked or resolved on the local disk."""
    return isinstance(text, str) and bool(_URL.match(text) or _VSI.match(text))


def as_source(text: str | Path) -> Source:
    """The given name as a `Source`: a URL or /vsi path kept verbatim, anything else a local `Path`."""
    return text if is_virtual(text) else Path(text)


def source_stem(source: Source) -> str:
    """The file stem an output is named after: the last part of a URL's path (query dropped) or of a
    /vsi path (`/vsizip/a.zip/b.tif` -> `b`, `https://h/c/scene.tif?x=1` -> `scene`)."""
    if isinstance(source, Path):
        return source.stem
    inner = source
    while _VSI.match(inner):  # /vsicurl/https://... and chains such as /vsizip//vsicurl/...
        inner = inner[inner.index("/", 1) + 1 :]
        inner = inner if _URL.match(inner) or inner.startswith("/") else "/" + inner
    path = urlparse(inner).path if _URL.match(inner) else inner
    stem = PurePosixPath(path.rstrip("/")).stem
    return stem or "scene"


def local_paths(sources: list[Source]) -> list[Path]:
    """The local files among `sources` (virtual ones cannot be overwritten by a local output)."""
    return [s for s in sources if isinstance(s, Path)]
