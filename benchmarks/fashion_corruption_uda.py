"""Fashion-MNIST -> Fashion-MNIST under corruption (noise, blur, contrast): covariate-shift UDA.

The source is clean Fashion-MNIST (a per-class sample of its train split), the targets
are the corrupted datasets ``fashion-mnist-noise`` / ``-blur`` / ``-contrast`` (severity
5 by default; their labels are used only for evaluation). Per corruption and method:
source-only, adapted (label-free selection) and oracle, over several seeds.

    python benchmarks/fashion_corruption_uda.py --seeds 3
    python benchmarks/fashion_corruption_uda.py --quick
    python benchmarks/fashion_corruption_uda.py --methods '' --skada all --seed-list 0 --out /tmp/skada.md
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from d1_digits_uda import parser, run_benchmark, seed_list, skada_list  # noqa: E402

METHODS = ("coral", "mmd", "dann", "cdan", "mcc", "entropy", "coral-transform", "subspace")
QUICK = ("cdan", "coral-transform")


def main() -> None:
    p = parser(METHODS)
    p.add_argument("--corruptions", default="noise,blur,contrast")
    p.add_argument("--severity", type=int, default=5)
    p.add_argument("--per-class", type=int, default=200, help="source train examples per class")
    p.add_argument("--max-target", type=int, default=2000)
    p.add_argument("--max-test", type=int, default=2000)
    args = p.parse_args()
    methods = list(QUICK) if args.quick and args.methods == ",".join(METHODS) else \
        [m for m in args.methods.split(",") if m]
    seeds = 1 if args.quick else seed_list(args)
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / "fashion_corruption_uda.md"
    sections = []
    for kind in [k for k in args.corruptions.split(",") if k]:
        common = {"source": "fashion-mnist", "target": f"fashion-mnist-{kind}",
                  "target_domain": f"severity-{args.severity}", "backbone": args.backbone or "efficientnet_lite0",
                  "image_size": args.image_size or 64, "mapping": "mlp",
                  "source_shots": args.per_class, "max_target": args.max_target,
                  "max_test": args.max_test, "max_val": 1000, "epochs": args.epochs or (8 if args.quick else 20),
                  "cache_dir": args.cache_dir}
        part = out.with_name(f"{out.stem}_{kind}.md")  # per output: processes with different --out never share it
        run_benchmark(f"fashion-{kind}", f"Fashion-MNIST → {kind} (severity {args.severity})",
                      common, methods, seeds, args.select, args.sweep, part, sys.argv,
                      skada=skada_list(args.skada))
        sections.append(part.read_text(encoding="utf-8"))
        part.unlink()
    out.write_text("\n".join(sections), encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
