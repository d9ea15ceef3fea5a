import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _cpu_only(monkeypatch):
    """Run on CPU even where CUDA exists: bitwise resume is a CPU guarantee."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
