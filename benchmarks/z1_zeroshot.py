"""Z1 -- text zero- and few-shot on fine-foods: one curve from K = 0 to 8 labels per class.

The built-in ``fine-foods`` reviews (great / other, test set of 1000 reviews of other
products, 66 / 34), MiniLM sentence encoder. Methods, all scored by balanced accuracy on the
same test set:

(a) transferkit ``fit --shots 0``: the prototype head (class names, or one description per
    class, in the template "This review is about {}."), its biases fitted without labels;
(b) TF-IDF similarity to the same class texts (no labels; the vectoriser is fitted on the
    test reviews and the class texts, as (a) reads the test inputs for its biases);
(c) transferkit ``fit --shots K --set task_params.head_init=prototypes`` (the head starts at
    the prototypes and is fitted towards them), K = 1, 2, 4, 8;
(d) the plain linear probe at the same K (random head, logistic regression).

    python benchmarks/z1_zeroshot.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

TEMPLATE = "This review is about {}."
DESCRIPTIONS = ("great\ta great product: delicious, excellent quality, I love it and recommend it\n"
                "other\ta disappointing product: bad taste, poor quality, not worth the money\n")


def tfidf_baseline(texts: list[str], y: np.ndarray, class_texts: list[str]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import balanced_accuracy_score

    vec = TfidfVectorizer().fit(list(texts) + class_texts)
    sims = (vec.transform(texts) @ vec.transform(class_texts).T).toarray()  # (N, K)
    return float(balanced_accuracy_score(y, sims.argmax(axis=1)))


def fit_bacc(workdir: Path, shots: int, seed: int, overrides: list[str]) -> tuple[float, float]:
    import transferkit as tk

    t0 = time.perf_counter()
    result = tk.fit(data="fine-foods", backbone="minilm", shots=shots, seed=seed,
                    out=str(workdir / f"k{shots}-s{seed}-{abs(hash(tuple(overrides)))}"),
                    overrides=overrides, log=None)
    return float(result.summary["metrics"]["test"]["balanced_accuracy"]), time.perf_counter() - t0


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seeds", type=int, default=3)
    args.add_argument("--out", default=str(_common.RESULTS_DIR / "z1_zeroshot.md"))
    opts = args.parse_args()
    _common.setup(install=False)
    import transferkit as tk

    test = tk.data.load("fine-foods", split="test")
    texts = [str(test.input(i)) for i in range(len(test))]
    classes = list(test.classes)
    work = Path(tempfile.mkdtemp(prefix="z1-"))
    desc = work / "classes.txt"
    desc.write_text(DESCRIPTIONS, encoding="utf-8")
    described = [line.split("\t")[1] for line in DESCRIPTIONS.strip().splitlines()]
    rows: list[tuple[str, str, float, float, float]] = []
    base = [f"task_params.template={TEMPLATE}"]
    for label, extra, words in (("names", [], classes), ("descriptions", [f"task_params.class_descriptions={desc}"],
                                                         described)):
        b_tfidf = tfidf_baseline(texts, test.y, [TEMPLATE.replace("{}", w) for w in words])
        rows.append((f"TF-IDF similarity to the class {label}", "0", b_tfidf, 0.0, 0.0))
        b0, t0 = fit_bacc(work, 0, 0, base + extra)
        rows.append((f"transferkit --shots 0, class {label}", "0", b0, 0.0, t0))
    curve = {}
    for k in (1, 2, 4, 8):
        for label, over in (("prototypes (descriptions) then fit", base + [f"task_params.class_descriptions={desc}",
                                                                           "task_params.head_init=prototypes"]),
                            ("plain linear probe", [])):
            values = [fit_bacc(work, k, s, over) for s in range(opts.seeds)]
            accs = [v[0] for v in values]
            curve[(label, k)] = accs
            rows.append((f"transferkit {label}", str(k), statistics.mean(accs),
                         statistics.stdev(accs) if len(accs) > 1 else 0.0,
                         statistics.mean(v[1] for v in values)))
    lines = ["# Z1 -- text zero-/few-shot on fine-foods (balanced accuracy, test set of 1000)", "",
             __doc__.split("\n\n", 1)[1].split("    python")[0].strip(), "",
             f"Seeds: {opts.seeds} for K >= 1 (K = 0 uses no sample and is deterministic). "
             f"Machine: {json.dumps(_common.machine())}.", "",
             "| method | K | balanced accuracy | std | seconds |", "|---|---|---|---|---|"]
    lines += [f"| {m} | {k} | {b:.4f} | {s:.4f} | {t:.1f} |" for m, k, b, s, t in rows]
    lines += ["", "Command: `python benchmarks/z1_zeroshot.py --seeds " + str(opts.seeds) + "`", ""]
    Path(opts.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
