"""The examples/ scripts run as a user runs them (a fresh process, a scratch folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
@pytest.mark.parametrize(("script", "expect"), [("image_folder.py", "test accuracy"),
                                                ("text_csv.py", "'It fell apart in a week': ")])
def test_example_runs_to_its_predictions(script, expect, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "TRANSFERKIT_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expect in done.stdout
    assert "test accuracy" in done.stdout
