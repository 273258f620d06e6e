#!/usr/bin/env bash
# Rebuilds the shipped weights from ../shared/data with satsr's own commands.
# The pixel-loss `psnr`: stage 1 ran 7.7 min on one GPU (about 8 h on 2 CPU cores), stages 2-3 48 min on
# one CPU core; the `gan` (default), 78 more minutes on one core. The panchromatic model (15 min) starts
# from the 0.1 run's pixel-loss generator.
# Usage: bash weights/reproduce.sh [SHARED_DATA_DIR]    (run from the repository root, satsr installed)
set -euo pipefail
data=${1:-../shared/data}
pairs=$data/pairs

# Real satellite/aerial pairs; Kathmandu is held out whole for testing.
satsr prepare \
  "$pairs/dar_es_salaam_satellite_30cm.tif" "$pairs/dar_es_salaam_aerial_7.5cm.tif" \
  "$pairs/kathmandu_satellite_30cm.tif" "$pairs/kathmandu_aerial_7.5cm.tif" \
  "$pairs/nairobi_satellite_30cm.tif" "$pairs/nairobi_aerial_7.5cm.tif" \
  --test-scenes kathmandu -o data/pairs

# Aerial scenes with a synthetic satellite degradation; the whole SJER site is held out for testing.
# 0.99: NEON plots flag a few dozen pixels per plot as nodata (255), which would otherwise drop most tiles.
satsr prepare --degrade "$data/aerial/neon" "$data/aerial/oam/oam_10cm_field.tif" \
  "$data/aerial/oam/oam_10cm_partial.tif" "$data/aerial/nl_25cm.tif" \
  --test-scenes 'SJER_*' --stride 32 --valid-fraction 0.99 -o data/aerial

# The 0.1 run (32x8, one fixed degradation): its GAN and its pixel-loss generator, the previous `gan` and
# `psnr`, are kept in previous/; the panchromatic model is folded from the latter.
satsr train data/pairs data/aerial -o runs/x4 --config weights/train_x4.toml
cp runs/x4/final.safetensors weights/previous/satsr_x4_gan_0.1.safetensors
cp runs/x4/psnr.safetensors weights/previous/satsr_x4_psnr_0.1.safetensors

# The urban HR of the two training cities, degraded like the aerial scenes (Kathmandu stays unseen), and
# aerial HR read at 30 cm (LR 1.2 m): the HR of a coarser sensor.
satsr prepare --degrade "$pairs/dar_es_salaam_aerial_7.5cm.tif" "$pairs/nairobi_aerial_7.5cm.tif" -o data/pairs_hr
satsr prepare --degrade "$pairs"/{dar_es_salaam,nairobi}_aerial_7.5cm.tif "$data"/aerial/oam/*.tif \
  "$data/aerial/nl_25cm.tif" --hr-gsd 0.3 --stride 16 --valid-fraction 0.99 -o data/coarse30
# The same 30 cm tiles with a BI stored LR (psnr's stage 4 keeps it for half their crops; also a val kind).
satsr prepare --degrade "$pairs"/{dar_es_salaam,nairobi}_aerial_7.5cm.tif "$data"/aerial/oam/*.tif \
  "$data/aerial/nl_25cm.tif" --hr-gsd 0.3 --stride 16 --valid-fraction 0.99 --blur-sigma 0,0 \
  --noise-sigma 0 --kernel bicubic -o data/coarse30_bi

# Held-out kinds beyond the Gaussian recipe: SJER and the two WorldView-3 scenes downsampled by
# antialiased bicubic ("BI"), never trained on.
satsr prepare --degrade "$data"/aerial/neon/SJER_*.tif --test-scenes 'SJER_*' --blur-sigma 0,0 \
  --noise-sigma 0 --kernel bicubic --stride 32 --valid-fraction 0.99 -o data/sjer_bi
satsr prepare --degrade "$data"/satellite/wv3_{vegas_rgba,paris_rgb}_30cm.tif --test-scenes '*' \
  --blur-sigma 0,0 --noise-sigma 0 --kernel bicubic --stride 32 --valid-fraction 0.99 -o data/wv3_bi

# The shipped `psnr`: a 64x16 generator in four stages (weights/x4_stage*.toml say why each exists).
satsr train data/pairs data/aerial data/pairs_hr -o runs/x4_1 --config weights/x4_stage1_blind.toml
satsr train data/pairs data/aerial data/pairs_hr data/coarse30 -o runs/x4_2 --config weights/x4_stage2_coarse.toml
satsr train data/pairs data/aerial data/pairs_hr data/coarse30 -o runs/x4_3 --config weights/x4_stage3_psnr.toml
satsr train data/pairs data/aerial data/pairs_hr data/coarse30_bi -o runs/x4_4 --config weights/x4_stage4_psnr.toml
cp runs/x4_4/final.safetensors weights/satsr_x4_psnr.safetensors   # EMA at the end of the cosine schedule

# The shipped `gan`: a 5000-step adversarial phase from stage 3 (weights/x4_gan.toml says why).
satsr train data/pairs data/aerial data/pairs_hr -o runs/x4_gan --config weights/x4_gan.toml
cp runs/x4_gan/final.safetensors weights/satsr_x4_gan.safetensors
python benchmarks/shipped_weights.py data/pairs data/aerial data/sjer_bi data/wv3_bi \
  --model "stage-3 psnr=runs/x4_3/final.safetensors" --model psnr=psnr --model gan=gan
python benchmarks/bench_default.py --old weights/previous/satsr_x4_gan_0.1.safetensors --old-precision fp32

# Panchromatic: the same data as Rec. 601 luminance (1 band, uint8), the same held-out places.
satsr prepare --luminance \
  "$pairs/dar_es_salaam_satellite_30cm.tif" "$pairs/dar_es_salaam_aerial_7.5cm.tif" \
  "$pairs/kathmandu_satellite_30cm.tif" "$pairs/kathmandu_aerial_7.5cm.tif" \
  "$pairs/nairobi_satellite_30cm.tif" "$pairs/nairobi_aerial_7.5cm.tif" \
  --test-scenes kathmandu -o data/pairs_pan
satsr prepare --luminance --degrade "$data/aerial/neon" "$data/aerial/oam/oam_10cm_field.tif" \
  "$data/aerial/oam/oam_10cm_partial.tif" "$data/aerial/nl_25cm.tif" \
  --test-scenes 'SJER_*' --stride 32 --valid-fraction 0.99 -o data/aerial_pan

# The RGB pixel-loss generator folded to 1 band (exact on grey images), then fine-tuned on luminance.
python weights/make_pan_weights.py fold weights/previous/satsr_x4_psnr_0.1.safetensors runs/pan_init_psnr.safetensors
satsr train data/pairs_pan data/aerial_pan -o runs/pan_psnr --init runs/pan_init_psnr.safetensors \
  --config weights/pan_x4.toml
# Val PSNR was still rising: 3000 more steps from that run, the same settings.
satsr train data/pairs_pan data/aerial_pan -o runs/pan_psnr2 --init runs/pan_psnr \
  --config weights/pan_x4.toml --steps 3000 --pretrain-steps 3000
# Measured, not shipped (val PSNR 0.14 dB under the pixel-loss run, see weights/README.md):
#   python weights/make_pan_weights.py fold weights/previous/satsr_x4_gan_0.1.safetensors runs/pan_init_gan.safetensors
#   satsr train data/pairs_pan data/aerial_pan -o runs/pan_gan --init runs/pan_init_gan.safetensors \
#     --config weights/pan_x4.toml --steps 500 --pretrain-steps 0

# The shipped file: the run's model plus the scene stretch for 11-16-bit scenes (satsr.radiometry).
python weights/make_pan_weights.py finish runs/pan_psnr2 data/pairs_pan data/aerial_pan \
  -o weights/satsr_x4_pan.safetensors
satsr evaluate pan data/pairs_pan --precision fp32      # Kathmandu, beside bicubic and lanczos
satsr evaluate pan data/aerial_pan --precision fp32     # SJER
