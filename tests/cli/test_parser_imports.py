"""Building the command-line parser (what `--help` does) loads neither torch nor pandas."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_parser_imports_neither_torch_nor_pandas():
    code = ("import sys; from transferkit.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'pandas', 'transformers', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
