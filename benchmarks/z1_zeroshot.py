"""Z1 -- text zero- and few-shot: one curve from K = 0 to 8 labels per class, on two sets.

The built-in ``fine-foods`` reviews (great / other, test set of 1000 reviews of other
products, 66 / 34) and ``wnut16-mentions`` (WNUT-16 tweets labelled person / location /
neither by their gold entity tags, wnut16's fixed test carve of 474 tweets, ~79 % neither),
MiniLM sentence encoder. Methods, all scored by balanced accuracy on each set's test set:

(a) transferkit ``fit --shots 0``: the prototype head (class names, or one description per
    class, in the set's template, e.g. "This review is about {}."), its biases fitted
    without labels;
(b) TF-IDF similarity to the same class texts (no labels; the vectoriser is fitted on the
    test texts and the class texts, as (a) reads the test inputs for its biases);
(c) transferkit ``fit --shots K --set task_params.head_init=prototypes`` (the head starts at
    the prototypes and is fitted towards them), K = 1, 2, 4, 8;
(d) the plain linear probe at the same K (random head, logistic regression);
(e) SetFit 1.2 (defaults, the same MiniLM folder) on the very same K shots per class
    (transferkit's sampler, same seed), K = 2, 4, 8 (SetFit trains on same-class pairs);
(f) (c) with ``--mixed-precision bf16`` (bf16 autocast while the frozen encoder embeds the
    texts; about 2x faster on CPUs with AMX-BF16, which transferkit's console points out).

    python benchmarks/z1_zeroshot.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

#: per dataset: the template, one description per class (written before any run, never
#: changed after one) and the test set's size, for the table's title
SETS: dict[str, dict[str, str]] = {
    "fine-foods": {
        "template": "This review is about {}.",
        "descriptions": ("great\ta great product: delicious, excellent quality, I love it and recommend it\n"
                         "other\ta disappointing product: bad taste, poor quality, not worth the money\n"),
    },
    "wnut16-mentions": {
        "template": "This tweet mentions {}.",
        "descriptions": ("neither\tno person and no place, just everyday chat\n"
                         "person\ta person by name, such as a celebrity, an athlete or a friend\n"
                         "location\ta place by name, such as a city, a country, a street or a venue\n"),
    },
}
#: SetFit's smallest K: it trains on pairs of same-class examples
SETFIT_MIN_K = 2
#: method (f): the prototype fit with its one override
BF16_ROW = "transferkit prototypes (descriptions) then fit, --mixed-precision bf16"


def tfidf_baseline(texts: list[str], y: np.ndarray, class_texts: list[str]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import balanced_accuracy_score

    vec = TfidfVectorizer().fit(list(texts) + class_texts)
    sims = (vec.transform(texts) @ vec.transform(class_texts).T).toarray()  # (N, K)
    return float(balanced_accuracy_score(y, sims.argmax(axis=1)))


def fit_bacc(data: str, workdir: Path, shots: int, seed: int, overrides: list[str]) -> tuple[float, float]:
    import transferkit as tk

    cache = workdir / "cache"  # a fresh feature cache per fit: its seconds include extraction,
    shutil.rmtree(cache, ignore_errors=True)  # as SetFit's include embedding every text
    t0 = time.perf_counter()
    result = tk.fit(data=data, backbone="minilm", shots=shots, seed=seed, cache_dir=str(cache),
                    out=str(workdir / f"{data}-k{shots}-s{seed}-{abs(hash(tuple(overrides)))}"),
                    overrides=overrides, log=None)
    return float(result.summary["metrics"]["test"]["balanced_accuracy"]), time.perf_counter() - t0


def setfit_bacc(data: str, shots: int, seed: int, test_texts: list[str], y_test: np.ndarray) -> tuple[float, float]:
    """SetFit (defaults, the same MiniLM folder) on the very shots ``fit --shots K --seed S``
    trains on (transferkit's sampler), scored on the same test set."""
    from sklearn.metrics import balanced_accuracy_score
    from t1_fewshot_text import peer_setfit

    import transferkit as tk

    train = tk.data.load(data, split="train", shots=shots, seed=seed)
    t0 = time.perf_counter()
    pred = peer_setfit([str(train.input(i)) for i in range(len(train))], np.asarray(train.y), test_texts,
                       seed, shots)
    return float(balanced_accuracy_score(y_test, pred)), time.perf_counter() - t0


def run_set(data: str, seeds: int, work: Path, ks: tuple[int, ...] = (1, 2, 4, 8)
            ) -> list[tuple[str, str, float, float, float]]:
    """The rows of one dataset: K = 0 (TF-IDF and prototypes, names and descriptions), then
    K = 1, 2, 4, 8 (prototypes then fit, the plain probe, SetFit from K = 2)."""
    import transferkit as tk

    spec = SETS[data]
    test = tk.data.load(data, split="test")
    texts = [str(test.input(i)) for i in range(len(test))]
    desc = work / f"{data}-classes.txt"
    desc.write_text(spec["descriptions"], encoding="utf-8")
    described = dict(line.split("\t") for line in spec["descriptions"].strip().splitlines())
    base = [f"task_params.template={spec['template']}"]
    rows: list[tuple[str, str, float, float, float]] = []
    for label, extra, words in (("names", [], list(test.classes)),
                                ("descriptions", [f"task_params.class_descriptions={desc}"],
                                 [described[c] for c in test.classes])):
        b_tfidf = tfidf_baseline(texts, test.y, [spec["template"].replace("{}", w) for w in words])
        rows.append((f"TF-IDF similarity to the class {label}", "0", b_tfidf, 0.0, 0.0))
        b0, t0 = fit_bacc(data, work, 0, 0, base + extra)
        rows.append((f"transferkit --shots 0, class {label}", "0", b0, 0.0, t0))
    methods = [("transferkit prototypes (descriptions) then fit",
                lambda k, s: fit_bacc(data, work, k, s, base + [f"task_params.class_descriptions={desc}",
                                                               "task_params.head_init=prototypes"])),
               ("transferkit plain linear probe", lambda k, s: fit_bacc(data, work, k, s, [])),
               ("SetFit (defaults, same MiniLM, same shots) (peer)",
                lambda k, s: setfit_bacc(data, k, s, texts, test.y)),
               (BF16_ROW,
                lambda k, s: fit_bacc(data, work, k, s, base + [f"task_params.class_descriptions={desc}",
                                                               "task_params.head_init=prototypes",
                                                               "train.mixed_precision=bf16"]))]
    for k in ks:
        for label, run in methods:
            if label.startswith("SetFit") and k < SETFIT_MIN_K:
                continue
            values = [run(k, s) for s in range(seeds)]
            accs = [v[0] for v in values]
            rows.append((label, str(k), statistics.mean(accs), statistics.stdev(accs) if len(accs) > 1 else 0.0,
                         statistics.mean(v[1] for v in values)))
            print(f"{data} K={k} {label}: {rows[-1][2]:.4f} ({rows[-1][4]:.1f} s)", flush=True)
    return rows


def targets(data: str, rows: list[tuple[str, str, float, float, float]]) -> list[str]:
    """Z1's two targets on one dataset, read off its rows."""
    by = {(m, k): (b, t) for m, k, b, _, t in rows}
    out = []
    for label in ("names", "descriptions"):
        tk0, tf0 = by[(f"transferkit --shots 0, class {label}", "0")][0], by[(f"TF-IDF similarity to the class {label}", "0")][0]
        out.append(f"- {data}, K = 0, class {label}: transferkit {tk0:.3f} vs TF-IDF {tf0:.3f} "
                   f"({100 * (tk0 - tf0):+.1f} points; target +5: {'met' if tk0 - tf0 >= 0.05 else 'missed'}).")
    setfit = by.get(("SetFit (defaults, same MiniLM, same shots) (peer)", "8"))
    for label in ("transferkit prototypes (descriptions) then fit", BF16_ROW):
        proto = by.get((label, "8"))
        if proto is None or setfit is None:
            continue
        ok = proto[0] >= setfit[0] and proto[1] <= setfit[1] / 5
        out.append(f"- {data}, K = 8: {label} {proto[0]:.3f} in {proto[1]:.1f} s vs SetFit "
                   f"{setfit[0]:.3f} in {setfit[1]:.1f} s (time ratio {proto[1] / setfit[1]:.3f}; target >= SetFit "
                   f"in <= 1/5 of its time: {'met' if ok else 'missed'}).")
    return out


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seeds", type=int, default=3)
    args.add_argument("--data", default=",".join(SETS), help="Comma-separated: " + ", ".join(SETS))
    args.add_argument("--out", default=str(_common.RESULTS_DIR / "z1_zeroshot.md"))
    args.add_argument("--ks", default="1,2,4,8", help="Comma-separated K >= 1 (K = 0 always runs).")
    opts = args.parse_args()
    _common.setup(install=False)
    work = Path(tempfile.mkdtemp(prefix="z1-"))
    lines = ["# Z1 -- text zero-/few-shot: fine-foods and WNUT-16 tweets (balanced accuracy)", "",
             __doc__.split("\n\n", 1)[1].split("    python")[0].strip(), "",
             f"Seeds: {opts.seeds} for K >= 1 (K = 0 uses no sample and is deterministic). "
             f"Machine: {json.dumps(_common.machine())}.", ""]
    verdicts = []
    for data in opts.data.split(","):
        rows = run_set(data, opts.seeds, work, tuple(int(k) for k in opts.ks.split(",")))
        lines += [f"## {data}", "", f"Template `{SETS[data]['template']}`; descriptions: "
                  + "; ".join(f"{c}: \"{d}\"" for c, d in (ln.split("\t") for ln in
                                                          SETS[data]["descriptions"].strip().splitlines())), "",
                  "| method | K | balanced accuracy | std | seconds (mean per fit) |", "|---|---|---|---|---|"]
        lines += [f"| {m} | {k} | {b:.4f} | {s:.4f} | {t:.1f} |" for m, k, b, s, t in rows]
        lines.append("")
        verdicts += targets(data, rows)
    lines += ["## Targets", "", *verdicts, "",
              f"Command: `python benchmarks/z1_zeroshot.py --seeds {opts.seeds} --data {opts.data} --ks {opts.ks}`", ""]
    Path(opts.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
