"""satsr: georeferenced 4x super-resolution of satellite imagery."""

__version__ = "0.1.0"
SCALE = 4  # `satsr prepare`'s default (30 cm -> 7.5 cm); models and tools read theirs from weights/manifest

_API = ("upscale_file", "upscale_array", "load_weights", "score", "UpscaleOptions", "EvaluateOptions")


def __getattr__(name: str) -> object:
    """`satsr.upscale_file(...)` and the rest of satsr.api, imported on first use: `import satsr` (and
    `satsr --help`) stays free of torch, rasterio and numpy."""
    if name in _API:
        from satsr import api

        return getattr(api, name)
    raise AttributeError(f"module 'satsr' has no attribute {name!r}")
