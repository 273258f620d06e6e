#!/usr/bin/env bash
# Rebuilds the shipped weights from ../shared/data with satsr's own commands (about 75 min on 2 CPU cores
# for the RGB pair, then about 15 min on one core for the panchromatic model).
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

satsr train data/pairs data/aerial -o runs/x4 --config weights/train_x4.toml

cp runs/x4/psnr.safetensors weights/satsr_x4_psnr.safetensors    # best pixel-loss generator (val PSNR)
cp runs/x4/final.safetensors weights/satsr_x4_gan.safetensors    # generator at the end of the GAN phase
python benchmarks/shipped_weights.py data/pairs data/aerial --figure weights/comparison.png

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
python weights/make_pan_weights.py fold weights/satsr_x4_psnr.safetensors runs/pan_init_psnr.safetensors
satsr train data/pairs_pan data/aerial_pan -o runs/pan_psnr --init runs/pan_init_psnr.safetensors \
  --config weights/pan_x4.toml
# Val PSNR was still rising: 3000 more steps from that run, the same settings.
satsr train data/pairs_pan data/aerial_pan -o runs/pan_psnr2 --init runs/pan_psnr \
  --config weights/pan_x4.toml --steps 3000 --pretrain-steps 3000
# Measured, not shipped (val PSNR 0.14 dB under the pixel-loss run, see weights/README.md):
#   python weights/make_pan_weights.py fold weights/satsr_x4_gan.safetensors runs/pan_init_gan.safetensors
#   satsr train data/pairs_pan data/aerial_pan -o runs/pan_gan --init runs/pan_init_gan.safetensors \
#     --config weights/pan_x4.toml --steps 500 --pretrain-steps 0

# The shipped file: the run's model plus the scene stretch for 11-16-bit scenes (satsr.radiometry).
python weights/make_pan_weights.py finish runs/pan_psnr2 data/pairs_pan data/aerial_pan \
  -o weights/satsr_x4_pan.safetensors
satsr evaluate pan data/pairs_pan --precision fp32      # Kathmandu, beside bicubic and lanczos
satsr evaluate pan data/aerial_pan --precision fp32     # SJER
