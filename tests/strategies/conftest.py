import sys
from pathlib import Path

import torch

# The tiny test backbones live in tests/train/tiny_models.py (shared with the DDP script).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
torch.set_num_threads(1)
