#!/usr/bin/env bash
# Rebuilds the shipped weights from ../shared/data with satsr's own commands (about 75 min on 2 CPU cores).
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
