"""``transferkit compare RUN_A RUN_B``."""

from __future__ import annotations

import argparse
import json

from transferkit.cli import COMMANDS


@COMMANDS.register("compare", help="Paired test of two runs on the same test examples (McNemar and "
                   "a paired bootstrap CI for classification, a paired bootstrap of R² for regression).")
class CompareCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_a", help="Run directory A (e.g. the transferred model).")
        parser.add_argument("run_b", help="Run directory B (e.g. the model trained from scratch), "
                            "tested on the same split as A.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap resamples "
                            "(default 0).")
        for side in ("a", "b"):  # checked by compare_runs against the fusions there are
            parser.add_argument(f"--fusion-{side}", default=None, metavar="FUSION",
                                help=f"Which fusion of multimodal run {side.upper()} to compare (default "
                                "concat, what its predict answers; the same run may be both A and B).")
        parser.add_argument("--json", action="store_true", help="Print the test as JSON.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.jobs.compare import compare_runs

        result = compare_runs(args.run_a, args.run_b, seed=args.seed, fusion_a=args.fusion_a,
                              fusion_b=args.fusion_b)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            fusion = result.get("fusion") or {}
            a, b = (result[k] + (f" ({fusion[k]} fusion)" if k in fusion else "") for k in ("a", "b"))
            print(f"A = {a}\nB = {b}\n{result['n']} shared test examples, "
                  f"{result['test']}\n{result['sentence']}")
        return 0
