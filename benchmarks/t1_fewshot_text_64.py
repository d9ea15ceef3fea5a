"""T1 at 64 labels per class -- transferkit beside SetFit (``num_iterations=10``, as
BENCHMARKS.md prescribes; about 16 min per seed on 2 cores), frozen MiniLM + LR and TF-IDF +
LR. The same script as ``t1_fewshot_text.py`` (see its docstring for the protocol), run on
its own so that 8/16 and 64 labels per class each have one table and one command.

    python benchmarks/t1_fewshot_text_64.py --seeds 3
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import t1_fewshot_text  # noqa: E402

if __name__ == "__main__":
    t1_fewshot_text.main(shots="64", out_name="t1_fewshot_text_64.md", t2=False)
