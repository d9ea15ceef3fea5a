"""TS1 (series classification): few-shot UCR/UEA targets, 5 and 10 series per class.

Each target's source encoder is pretrained once, supervised, on the **other** bundled
univariate sets read as one dataset (classes ``<set>/<class>``, every series resampled to the
target's length; the target's series are never in it), as a user would::

    transferkit pretrain --data osuleaf,acsf1,pickup-gesture-wiimote-z,italy-power-demand,arrowhead@150 \
        --arch sequence:cnn --epochs 40 --out runs/series          # gunpoint's source

(``--objective masked``: masked-value reconstruction of every set's series instead, the
target's own unlabelled training series included; never a test series.)
Then, per target (gunpoint, italy-power-demand, arrowhead), shots and seed, in this
process through the public API (``tk.fit``; the same as the CLI's ``fit``):

- transferkit pretrained + full: ``--backbone runs/series --strategy full --set
  strategy_params.backbone_lr_ratio=1.0`` (docs/pretrain.md's recipe for a source of your own:
  the encoder at the head's rate), with the scratch row's epochs, batch size and learning rate;
- transferkit pretrained + linear probe: ``--backbone runs/series`` (the default strategy);
- scratch: the same network from random weights, ``--backbone sequence:cnn --strategy full``
  with the backbone at the head's learning rate (``backbone_lr_ratio=1``) -- the fair
  from-scratch recipe, the same as the pretrained + full row's (epochs 30, batch 8, lr 0.003,
  patience 30: no early stopping on a 5-series validation split);
- scratch sequence:resnet (``--methods scratch-resnet``): the 1D ResNet of Wang et al. (2017)
  on the scratch recipe, to see whether a stronger encoder earns its place;
- transferkit MiniRocket probe: ``--backbone minirocket`` (frozen features; the default probe
  on them is the ridge classifier, alpha by leave-one-out on the training split, the
  validation split held out);
- transferkit auto: ``--strategy auto`` (backbone from its sequence pool, sequence:cnn and
  minirocket, by the validation split; then the strategy ladder);
- Fracast-0 (``--methods fracast-probe,fracast-full,fracast-scratch``; needs the fracast
  wheel): the packaged pretrained forecaster (85k parameters, pretrained by its authors on
  other series) as the pretrained network -- ``--backbone fracast`` (its frozen features:
  per channel the 48-step forecast and the last 64-d state, the default probe), ``--backbone
  fracast --strategy full`` (fit applies Fracast-0's few-shot recipe: the scratch recipe with
  patience 10), and the same network from random weights, ``--backbone fracast --set
  backbone.pretrained=false --strategy full`` (the same recipe);
- peer: MiniRocket + scikit-learn ``RidgeClassifierCV`` (standardised features, alphas
  10^-3..10^3), the reference recipe of Dempster et al., fitted on the **same labelled series
  transferkit consumed** (train + validation, rebuilt with transferkit's own splitter) and
  scored on the same test series (the archive's TEST file, capped at ``--max-test``);
- the same peer fitted on the K labelled series per class only (the shots, no validation
  series): the recipe at the issue's label count.

    python benchmarks/ts1_series.py --seeds 3          # -> results/ts1_series.md
    python benchmarks/ts1_series.py --quick            # 1 seed, gunpoint, 10 shots
    python benchmarks/ts1_series.py --seeds 3 --methods peer,minirocket,auto   # a subset of rows
    python benchmarks/ts1_series.py --seeds 3 --objective masked --methods pretrained-full,pretrained-probe,scratch
    python benchmarks/ts1_series.py --seeds 3 --methods scratch,scratch-resnet    # the 1D ResNet's bar
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # this checkout's transferkit, not another installed one

from _common import Results, Timing, parser, scores, seed_ci, setup, summary_ci, timed  # noqa: E402

TARGETS = ("gunpoint", "italy-power-demand", "arrowhead")
METHODS = ("peer", "pretrained-full", "pretrained-probe", "minirocket", "auto", "scratch", "scratch-resnet",
           "fracast-probe", "fracast-full", "fracast-scratch")
#: the univariate bundled sets; each target's source is every other one of them, read as one
#: dataset (``--data a,b,c@L``: classes <set>/<class>, series resampled to the target's length)
SOURCE_SETS = ("osuleaf", "acsf1", "pickup-gesture-wiimote-z", *TARGETS)
#: the target's series length, the common length its source is resampled to
LENGTH = {"gunpoint": 150, "italy-power-demand": 24, "arrowhead": 251}
#: the same recipe for every network that trains end to end (pretrained or from scratch): a few
#: labelled series need small batches and a higher rate; early stopping on a 5-series validation
#: split is noise, so it is off (patience = epochs). Fracast-0's rows type no recipe: fit applies
#: the backbone's own few-shot recipe (FracastBackbone.few_shot_recipe: these values with
#: patience 10), to the pretrained and the scratch model alike
TRAIN = {"epochs": 30, "overrides": ["train.batch_size=8", "train.lr=0.003", "train.patience=30"]}


def fracast_spec(window: str | None, target: str) -> str:
    """``fracast`` or ``fracast:<W>`` (``auto``: the smallest power of two >= the target's length)."""
    from transferkit.backbones.fracast import window_for

    if window is None:
        return "fracast"
    return f"fracast:{window_for(LENGTH[target]) if window == 'auto' else int(window)}"


def labelled_and_test(target: str, shots: int, seed: int, max_test: int) -> tuple[Any, Any]:
    """The labelled series (train + val) a fit with these flags consumes, and its test split."""
    from transferkit.data import load_splits

    s = load_splits(target, shots=shots, seed=seed, max_test=max_test)
    items = [s.train.input(i) for i in range(len(s.train))] + [s.val.input(i) for i in range(len(s.val))]
    y = np.concatenate([s.train.y, s.val.y])
    return (items, y), ([s.test.input(i) for i in range(len(s.test))], s.test.y)


def minirocket_ridge(labelled: Any, test: Any, shots_rows: int) -> dict[str, tuple[Any, ...]]:
    """MiniRocket features (transferkit's transform, fitted on the labelled series' inputs) +
    StandardScaler + RidgeClassifierCV, fitted on all labelled series ("all") and on the
    first ``shots_rows`` of them, the shots ("shots"): (accuracy, balanced accuracy, seconds,
    the seed's 95 % accuracy CI on the shared test set)."""
    import time

    import torch
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from transferkit.backbones.minirocket import MiniRocketBackbone

    t0 = time.perf_counter()
    (x_tr, y_tr), (x_te, y_te) = labelled, test
    mr = MiniRocketBackbone()
    mr.adapt_to(x_tr)
    with torch.inference_mode():
        f_tr = mr(mr.collate(x_tr)).numpy()
        f_te = np.concatenate([mr(mr.collate(x_te[i:i + 64])).numpy() for i in range(0, len(x_te), 64)])
    transform = time.perf_counter() - t0
    out = {}
    for key, rows in (("all", len(y_tr)), ("shots", shots_rows)):
        t1 = time.perf_counter()
        clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
        clf.fit(f_tr[:rows], y_tr[:rows])
        pred = clf.predict(f_te)
        out[key] = (*scores(y_te, pred), transform + time.perf_counter() - t1, seed_ci(y_te, pred))
    return out


def fit_row(res: Results, setting: str, method: str, seed: int, **kwargs: Any) -> None:
    import transferkit as tk

    with timed() as t:
        run = tk.fit(log=None, seed=seed, **kwargs)
    m = run.summary["metrics"]["test"]
    res.add(setting, method, seed, m["accuracy"], m["balanced_accuracy"], t, peer=False,
            ci=summary_ci(run.summary))


def main() -> None:
    p = parser(__doc__.splitlines()[0], "ts1_series.md")
    p.add_argument("--shots", type=int, nargs="+", default=[5, 10])
    p.add_argument("--targets", nargs="+", default=list(TARGETS))
    p.add_argument("--max-test", type=int, default=150)
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"Comma-separated rows to run, of {', '.join(METHODS)}.")
    p.add_argument("--source", default=None, help="A source run directory already pretrained (one for "
                   "every target; skips the pretraining).")
    p.add_argument("--objective", default="supervised", choices=("supervised", "masked"),
                   help="How each target's source is pretrained: on the other sets' labels, or masked-value "
                        "reconstruction of their series and the target's own unlabelled training series.")
    p.add_argument("--fracast-window", default=None,
                   help="Fracast-0's encoder window for its rows: 'auto' = the smallest power of two >= the "
                        "target's series length (--backbone fracast:<W>), or a number; default: its own 2,048.")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.shots, args.targets = 1, [10], ["gunpoint"]
    setup(install=False)
    import transferkit as tk

    work = Path(tempfile.mkdtemp(prefix="ts1-"))
    res = Results("series classification")
    methods = set(args.methods.split(","))
    if methods - set(METHODS):
        p.error(f"unknown --methods {sorted(methods - set(METHODS))}; choose from {', '.join(METHODS)}")
    title = "TS1 — few-shot series classification (UCR/UEA, aeon's bundled files)"
    intro = __doc__.split("\n\n", 1)[1].split("    python benchmarks")[0]
    for target in args.targets:
        source = None
        if methods & {"pretrained-full", "pretrained-probe"}:
            source = Path(args.source) if args.source else pretrain_source(tk, res, target, args.objective, work)
        for shots in args.shots:
            setting = f"{target}, {shots}/class"
            for seed in range(args.seeds):
                common = {"data": target, "shots": shots, "max_test": args.max_test,
                          "out": str(work / f"{target}-{shots}-{seed}"), "overwrite": True}
                if "peer" in methods:
                    labelled, test = labelled_and_test(target, shots, seed, args.max_test)
                    with timed() as t:  # the shots come first among the labelled series
                        peers = minirocket_ridge(labelled, test, shots * len(np.unique(labelled[1])))
                    for key, label in (("all", ""), ("shots", ", shots only")):
                        acc, bacc, sec, ci = peers[key]
                        res.add(setting, f"MiniRocket + RidgeClassifierCV{label}", seed, acc, bacc,
                                Timing(sec, t.cpu * sec / max(t.wall, 1e-9)), peer=True, ci=ci)
                ratio = [*TRAIN["overrides"], "strategy_params.backbone_lr_ratio=1.0"]
                if "pretrained-full" in methods:  # the scratch recipe exactly, from the source's weights
                    fit_row(res, setting, "transferkit pretrained + full", seed, backbone=str(source),
                            strategy="full", **common, epochs=TRAIN["epochs"], overrides=ratio)
                if "pretrained-probe" in methods:
                    fit_row(res, setting, "transferkit pretrained + linear probe", seed,
                            backbone=str(source), **common)
                if "minirocket" in methods:
                    fit_row(res, setting, "transferkit MiniRocket probe", seed, backbone="minirocket", **common)
                if "auto" in methods:
                    fit_row(res, setting, "transferkit auto", seed, strategy="auto", **common)
                if "scratch" in methods:
                    fit_row(res, setting, "scratch sequence:cnn (full)", seed, backbone="sequence:cnn",
                            strategy="full", **common, epochs=TRAIN["epochs"], overrides=ratio)
                fracast = fracast_spec(args.fracast_window, target)
                if "fracast-probe" in methods:  # a network pretrained elsewhere, by others
                    fit_row(res, setting, "transferkit Fracast-0 + linear probe", seed, backbone=fracast, **common)
                if "fracast-full" in methods:  # as typed: fit applies Fracast-0's few-shot recipe
                    fit_row(res, setting, "transferkit Fracast-0 + full", seed, backbone=fracast, strategy="full",
                            **common)
                if "fracast-scratch" in methods:  # the same architecture from random weights, same recipe
                    fit_row(res, setting, "scratch fracast (full)", seed, backbone=fracast, strategy="full",
                            **common, overrides=["backbone.pretrained=false"])
                if "scratch-resnet" in methods:  # the 1D ResNet (Wang et al.) on the same recipe
                    fit_row(res, setting, "scratch sequence:resnet (full)", seed, backbone="sequence:resnet",
                            strategy="full", **common, epochs=TRAIN["epochs"], overrides=ratio)
            # written after every setting, so an interrupted run still leaves its table
            out = Results(res.task, res.peers, res.rows, [*res.notes, verdict(res)])
            out.write(args.out, title, ["transferkit", "torch", "scikit-learn"], intro=intro)


def source_data(target: str, objective: str) -> str:
    """The ``--data`` of a target's source: the other bundled sets (supervised), or every set,
    the target's unlabelled training series included (masked), at the target's length."""
    sets = [s for s in SOURCE_SETS if objective == "masked" or s != target]
    return ",".join(sets) + f"@{LENGTH[target]}"


def pretrain_source(tk: Any, res: Results, target: str, objective: str, work: Path) -> Path:
    """Pretrain ``target``'s source encoder as a user would; a note states the command and time."""
    import json

    data = source_data(target, objective)
    with timed() as t:
        run = tk.pretrain(data, "sequence:cnn", str(work / f"source-{target}"), epochs=40, objective=objective,
                          log=None)
    metrics = json.loads((Path(run.run_dir) / "summary.json").read_text())["metrics"]
    said = (f"source test accuracy {100 * metrics['test']['accuracy']:.1f} % over the sets' test files"
            if objective == "supervised" else f"masked-value MSE {metrics['train']['masked_mse']:.3f}")
    res.notes.append(f"{target}'s source: `transferkit pretrain --data {data} --arch sequence:cnn --epochs 40"
                     f"{' --objective masked' if objective == 'masked' else ''}` ({t.wall:.0f} s wall, "
                     f"{t.cpu:.0f} s CPU); {said}.")
    return Path(run.run_dir)


def verdict(res: Results) -> str:
    """The issue's tests, in words: pretrained + full >= scratch + 5 points (where both ran);
    transferkit's best >= MiniRocket + ridge on at least half the targets (against the peer
    on the labels transferkit consumed, and against the peer on the shots only)."""
    def mean(setting: str, method: str) -> float:
        rs = res.rows.get((setting, method), [])
        return float(np.mean([r["acc"] for r in rs])) if rs else float("nan")

    said, wins, wins_shots = [], 0, 0
    for setting in res.settings():
        parts = []
        # each pretrained row on its own (choosing the better of the two would choose on test
        # labels): full is trained exactly like scratch; the probe is fit's default strategy
        for method, label, base in (
                ("transferkit pretrained + full", "pretrained + full", "scratch sequence:cnn (full)"),
                ("transferkit pretrained + linear probe", "pretrained + probe", "scratch sequence:cnn (full)"),
                ("transferkit Fracast-0 + full", "Fracast-0 + full", "scratch fracast (full)"),
                ("transferkit Fracast-0 + linear probe", "Fracast-0 + probe", "scratch fracast (full)")):
            pre, scratch = mean(setting, method), mean(setting, base)
            if np.isfinite(pre) and np.isfinite(scratch):
                parts.append(f"{label} {100 * pre:.1f} vs {base} {100 * scratch:.1f} ({100 * (pre - scratch):+.1f} "
                             f"points; target +5: {'met' if pre - scratch >= 0.05 else 'missed'})")
        ours = np.nanmax([mean(setting, m) for (s, m) in res.rows if s == setting and m.startswith("transferkit")]
                         or [float("nan")])
        peer = mean(setting, "MiniRocket + RidgeClassifierCV")
        peer_shots = mean(setting, "MiniRocket + RidgeClassifierCV, shots only")
        wins += bool(ours >= peer - 1e-9)
        wins_shots += bool(ours >= peer_shots - 1e-9)
        if np.isfinite(peer):  # the peer rows ran
            parts.append(f"transferkit's best {100 * ours:.1f} vs MiniRocket + ridge {100 * peer:.1f} "
                         f"(shots only: {100 * peer_shots:.1f})")
        if parts:
            said.append(f"{setting}: " + "; ".join(parts))
    n = len(res.settings())
    if not any((s, "MiniRocket + RidgeClassifierCV") in res.rows for s in res.settings()):
        return "Verdict: " + "; ".join(said) + "."
    return ("Verdict: " + "; ".join(said) + f". transferkit's best >= MiniRocket + ridge (on the labels "
            f"transferkit consumed) in {wins} of {n} settings; >= the same peer on the shots only in "
            f"{wins_shots} of {n}.")


if __name__ == "__main__":
    main()
