# %% [markdown]
# # satsr from Python
# Run cell by cell (VS Code / Jupyter "# %%" cells) or as a script from the repository root:
# `python examples/python_api.py`. Everything here is `satsr.api`, reachable as `satsr.NAME`.

# %%
from pathlib import Path

import rasterio

import satsr

weights = satsr.load_weights("gan")  # shipped default; "psnr", a .safetensors file or a run directory
print(weights.generator.spec, weights.normalisation.dtype, weights.metadata.get("lr_gsd_m", 0.30), "m in")

# %% [markdown]
# ## A file (a local path, an http(s):// or s3:// URL, a /vsi path or a VRT)

# %%
out = Path("paris_x4_api.tif")
result = satsr.upscale_file("examples/paris_rgb_30cm.tif", out, weights, tile=256, overwrite=True)
print(f"{result.dst}: {result.hr_size} px in {result.seconds:.1f} s ({result.precision})")

# %% [markdown]
# ## An array with its georeferencing: same pixels as the file path

# %%
with rasterio.open("examples/paris_rgb_30cm.tif") as ds:
    lr, transform, crs = ds.read(), ds.transform, ds.crs
hr, hr_transform = satsr.upscale_array(lr, transform, crs, weights)
with rasterio.open(out) as ds:
    assert (hr == ds.read()).all() and hr_transform == ds.transform
print("array path == file path:", hr.shape, f"pixels {hr_transform.a:.3g} x {-hr_transform.e:.3g} ({crs})")

# %% [markdown]
# ## Score it (LR-consistency against the input needs no aerial reference)

# %%
report = satsr.score(sr=out, lr="examples/paris_rgb_30cm.tif", metrics=("lr_psnr", "sharpness"))
for method, scores in report.scores.items():
    print(method, {k: round(v.overall, 3) for k, v in scores.items()})
out.unlink()
