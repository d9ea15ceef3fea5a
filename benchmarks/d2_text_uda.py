"""D2: unsupervised domain adaptation for text, fine-food reviews of 10 products (source)
-> reviews of 500 other products (target), frozen MiniLM features.

Per method: source-only, adapted (label-free selection) and oracle, over several seeds.
The target test set is 65.8 % "great" in the full data; balanced accuracy is in the run
summaries.

    python benchmarks/d2_text_uda.py --seeds 3
    python benchmarks/d2_text_uda.py --quick
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from d1_digits_uda import METHODS, QUICK_METHODS, explicit, parser, run_benchmark, seed_list, skada_list  # noqa: E402


def main() -> None:
    p = parser(METHODS)
    p.set_defaults(backbone="minilm")  # adapt's default backbone is an image one: the command names it
    args = p.parse_args()
    methods = list(QUICK_METHODS) if args.quick and args.methods == ",".join(METHODS) else \
        [m for m in args.methods.split(",") if m]
    seeds = seed_list(args)
    common = {"source": "fine-foods", "source.domain": "train-products", "target": "fine-foods",
              "target.domain": "other-products", **explicit(args)}
    run_benchmark("d2", "fine-foods train-products → other-products (UDA, text)", common, methods,
                  seeds, args.select, args.sweep,
                  Path(args.out or Path(__file__).parent / "results" / "d2_text_uda.md"), sys.argv,
                  skada=skada_list(args.skada))


if __name__ == "__main__":
    main()
