"""RG1 (regression): LaLonde earnings, cps1 -> psid1, with 100 / 500 labelled psid1 rows.

Each transferkit row is the command a user would type, run in its own process:

    transferkit pretrain --data lalonde-earnings --domain cps1 [--set task_params.target_transform=log1p]
    transferkit fit --data lalonde-earnings --domain psid1 --backbone <cps1 run> --shots N --seed S \
        --compare scratch [--set task_params.target_transform=log1p]
    (the same with --strategy auto)

The peers -- the training mean, scikit-learn's ``Ridge`` (standardised inputs) and
``HistGradientBoostingRegressor`` -- run here, in this process, on the **same labelled
psid1 rows transferkit consumed** (its training rows plus the validation rows it selects
and early-stops on; the split is rebuilt with transferkit's own ``task_splits`` from the
same configuration), and are scored on the same test rows. On the ``log1p`` form the
peers fit ``log1p(y)`` and predict ``expm1``; every R² is in dollars. "scratch" is
transferkit's ``--compare scratch`` (the same network from random weights, same budget);
"source only" is the cps1 model applied to the psid1 test rows as it is.

Facts the table must not hide: ``re78`` is top-coded at 25,564.67 in cps1 and not in psid1,
so the share of psid1 test rows above that cap is printed with the largest prediction of
the source-only model.

    python benchmarks/rg1_regression.py --seeds 3        # -> results/rg1_regression.md
    python benchmarks/rg1_regression.py --quick          # 1 seed, 100 rows, raw target
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, mean_std, parser, setup, versions  # noqa: E402

TOP_CODE = 25564.67
FORMS = {"raw": [], "log1p": ["--set", "task_params.target_transform=log1p"]}


def transferkit(*args: str) -> float:
    """Run ``transferkit ARGS`` as a user would; returns its wall seconds."""
    cmd = [sys.executable, "-m", "transferkit", *args, "--quiet"]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t


def user_command(args: list[str]) -> str:
    return "transferkit " + " ".join(a if " " not in a else repr(a) for a in args)


def psid1_rows(shots: int, seed: int, form: str) -> dict[str, Any]:
    """The psid1 rows a fit with these flags trains on, selects on and is tested on."""
    from transferkit.jobs.fit import resolve_config
    from transferkit.pipeline.fitting import task_splits

    overrides = [a for a in FORMS[form] if a != "--set"]
    cfg = resolve_config(overrides=overrides, data="lalonde-earnings", domain="psid1", shots=shots, seed=seed)
    splits, _task = task_splits(cfg, lambda _m: None)
    return {"train": splits.train, "val": splits.val, "test": splits.test}


def peers(parts: dict[str, Any], form: str, seed: int) -> dict[str, dict[str, float]]:
    """mean / ridge / gradient boosting on train + val rows, scored on the test rows."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from transferkit.tasks.regression import regression_metrics, table_matrix

    labelled = pd.concat([parts["train"].x, parts["val"].x], ignore_index=True)
    y = np.concatenate([np.asarray(parts["train"].y), np.asarray(parts["val"].y)]).astype(np.float64)
    test = parts["test"]

    class _Rows:  # what table_matrix reads: x and the schema's categorical columns
        def __init__(self, x: Any, schema: Any) -> None:
            self.x, self.schema = x, schema

        def __len__(self) -> int:
            return len(self.x)

    x_tr, x_te = table_matrix(_Rows(labelled, parts["train"].schema), test)
    fwd, inv = (np.log1p, np.expm1) if form == "log1p" else (lambda v: v, lambda v: v)
    out: dict[str, dict[str, float]] = {}
    t = time.perf_counter()
    out["mean"] = {**regression_metrics(test.y, np.full(len(test), inv(fwd(y).mean()))),
                   "s": time.perf_counter() - t}
    models = {"ridge": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
              "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed)}
    for name, model in models.items():
        t = time.perf_counter()
        model.fit(x_tr, fwd(y))
        pred = inv(model.predict(x_te))
        out[name] = {**regression_metrics(test.y, pred), "s": time.perf_counter() - t}
    return out


def source_only(run: Path, test: Any) -> dict[str, float]:
    """The cps1 model applied to the psid1 test rows unchanged."""
    import transferkit as tk
    from transferkit.tasks.regression import regression_metrics

    pred = np.asarray(tk.load(run).predict(test.x), dtype=np.float64)
    return {**regression_metrics(test.y, pred), "max_prediction": float(pred.max())}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "rg1_regression.md")
    p.add_argument("--shots", type=int, nargs="+", default=[100, 500])
    p.add_argument("--forms", nargs="+", default=list(FORMS), choices=list(FORMS))
    p.add_argument("--no-auto", action="store_true", help="Skip the --strategy auto rows.")
    p.add_argument("--image-shots", type=int, nargs="*", default=[200],
                   help="Training rows of the image regression row (printed-digits-angle); none skips it.")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.shots, args.forms = 1, [100], ["raw"]
    setup(install=False)
    work = Path(tempfile.mkdtemp(prefix="rg1-"))
    rows: dict[tuple[str, int], dict[str, list[float]]] = {}
    times: dict[tuple[str, int], dict[str, list[float]]] = {}
    facts: dict[str, Any] = {}
    commands: list[str] = []

    def add(key: tuple[str, int], method: str, r2: float, seconds: float | None) -> None:
        rows.setdefault(key, {}).setdefault(method, []).append(r2)
        if seconds is not None:
            times.setdefault(key, {}).setdefault(method, []).append(seconds)

    for form in args.forms:
        src = work / f"cps1-{form}"
        pre = ["pretrain", "--data", "lalonde-earnings", "--domain", "cps1", "--out", str(src), *FORMS[form]]
        print(f"[{form}] {user_command(pre)}", flush=True)
        pre_s = transferkit(*pre)
        commands.append(user_command(pre) + f"   # {pre_s:.0f} s")
        for shots in args.shots:
            key = (form, shots)
            for seed in range(args.seeds):
                parts = psid1_rows(shots, seed, form)
                test_y = np.asarray(parts["test"].y, dtype=np.float64)
                facts.setdefault("test_rows", len(test_y))
                facts.setdefault("above_cap", float((test_y > TOP_CODE).mean()))
                facts.setdefault("labelled", {})[shots] = len(parts["train"]) + len(parts["val"])
                so = source_only(src, parts["test"])
                add(key, "source only (cps1 model)", so["r2"], None)
                facts.setdefault("source_max", {})[form] = so["max_prediction"]
                for name, m in peers(parts, form, seed).items():
                    add(key, name, m["r2"], m["s"])
                for strategy in ([None] if args.no_auto else [None, "auto"]):
                    out = work / f"psid1-{form}-{shots}-{seed}-{strategy or 'default'}"
                    cmd = ["fit", "--data", "lalonde-earnings", "--domain", "psid1", "--backbone", str(src),
                           "--shots", str(shots), "--seed", str(seed), "--out", str(out), *FORMS[form]]
                    if strategy:
                        cmd += ["--strategy", strategy]
                    else:
                        cmd += ["--compare", "scratch"]
                    label = f"transferkit {'auto' if strategy else 'pretrain + fit'}"
                    print(f"[{form} {shots} seed {seed}] {user_command(cmd)}", flush=True)
                    try:
                        wall = transferkit(*cmd)
                    except RuntimeError as exc:
                        print(f"  failed: {exc}", flush=True)
                        add(key, label + " (failed)", float("nan"), None)
                        continue
                    summary = json.loads((out / "summary.json").read_text())
                    add(key, label, summary["metrics"]["test"]["r2"], wall)
                    if seed == 0:
                        commands.append(user_command(cmd).replace(str(work) + "/", "<tmp>/"))
                    scratch = (summary.get("baselines") or {}).get("scratch") or {}
                    if "test" in scratch:
                        add(key, "scratch (--compare scratch)", scratch["test"]["r2"], scratch.get("train_s"))
    for shots in args.image_shots:
        image_rows(work, shots, args.seeds, add, commands)
    write(args, rows, times, facts, commands)


def image_rows(work: Path, shots: int, seeds: int, add: Any, commands: list[str]) -> None:
    """The image regression row: printed digits' rotation angle with EfficientNet-Lite0, against
    the training mean and scratch (--compare scratch), as a user would run it."""
    key = ("printed-digits-angle (degrees)", shots)
    for seed in range(seeds):
        out = work / f"angle-{shots}-{seed}"
        cmd = ["fit", "--data", "printed-digits-angle", "--backbone", "efficientnet_lite0", "--shots", str(shots),
               "--seed", str(seed), "--compare", "scratch", "--out", str(out)]
        print(f"[angle {shots} seed {seed}] {user_command(cmd)}", flush=True)
        wall = transferkit(*cmd)
        summary = json.loads((out / "summary.json").read_text())
        add(key, "transferkit fit (efficientnet_lite0)", summary["metrics"]["test"]["r2"], wall)
        base = summary.get("baselines") or {}
        add(key, "mean", base["mean"]["r2"], None)
        if "test" in (base.get("scratch") or {}):
            add(key, "scratch (--compare scratch)", base["scratch"]["test"]["r2"], base["scratch"].get("train_s"))
        if seed == 0:
            commands.append(user_command(cmd).replace(str(work) + "/", "<tmp>/"))


def write(args: Any, rows: dict, times: dict, facts: dict, commands: list[str]) -> None:
    peers_ = ("mean", "ridge", "hist_gradient_boosting", "scratch (--compare scratch)", "source only (cps1 model)")
    lines = ["# RG1 — regression: LaLonde earnings cps1 → psid1", "",
             f"Machine: {machine()}  ", f"Versions: {versions(['transferkit', 'torch', 'scikit-learn'])}  ",
             f"Command: `python benchmarks/rg1_regression.py --seeds {args.seeds}"
             + (" --quick" if args.quick else "") + "`  ", f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             "Test R² in dollars on the psid1 test rows (mean ± std over seeds; each seed draws other "
             "training rows, the test split is fixed). Peers fit the same labelled rows transferkit "
             "consumed (train + validation: "
             + ", ".join(f"{n} for --shots {k}" for k, n in sorted(facts.get("labelled", {}).items()))
             + f"). {facts.get('test_rows')} test rows; {100 * facts.get('above_cap', 0):.1f} % of them "
             f"earn more than cps1's top code {TOP_CODE:,.2f}; the source-only model's largest "
             "prediction: " + ", ".join(f"{f} {v:,.0f}" for f, v in facts.get("source_max", {}).items())
             + ". The image row (printed-digits-angle) is R² of the rotation angle in degrees.",
             ""]
    verdicts = []
    for (form, shots), methods in rows.items():
        title = f"target {form}" if form in FORMS else form
        lines += [f"## {title}, {shots} labelled training rows", "",
                  "| method | test R² | seconds | vs best peer |", "|---|---|---|---|"]
        best = max((np.nanmean(v), m) for m, v in methods.items() if m in peers_ and m != "source only (cps1 model)")
        for m, v in methods.items():
            mu, sd = mean_std(v)
            secs = times.get((form, shots), {}).get(m)
            s = f"{np.mean(secs):.1f}" if secs else "—"
            ratio = f"{mu - best[0]:+.3f} R²" if m not in peers_ else ("best peer" if m == best[1] else "")
            lines.append(f"| {m} | {mu:.3f} ± {sd:.3f} | {s} | {ratio} |")
            if m.startswith("transferkit"):
                verdicts.append((form, shots, m, mu - best[0], best[1]))
        lines.append("")
    lines += ["## Verdict", ""]
    for form, shots, method, diff, peer in verdicts:
        word = "beats" if diff > 0 else "does not beat"
        lines.append(f"- {form}, {shots} rows: {method} {word} the best peer ({peer}) "
                     f"by {diff:+.3f} R².")
    lines += ["", "Across target forms (the issue's test: beat the best peer on at least one form, "
              "or say that transfer did not help):", ""]
    for shots in sorted({k for (f, k) in rows if f in FORMS}):
        ours = [(np.nanmean(v), f"{m}, {f}") for (f, k), ms in rows.items() if f in FORMS and k == shots
                for m, v in ms.items() if m.startswith("transferkit")]
        theirs = [(np.nanmean(v), f"{m}, {f}") for (f, k), ms in rows.items() if f in FORMS and k == shots
                  for m, v in ms.items() if m in peers_ and not m.startswith("source only")]
        (a, who), (b, peer) = max(ours), max(theirs)
        verdict = "transfer helped" if a > b else "transfer did not help"
        lines.append(f"- {shots} rows: best transferkit {a:.3f} ({who}) vs best peer {b:.3f} ({peer}): "
                     f"**{verdict}** ({a - b:+.3f} R²).")
    lines += ["", "## Commands (seed 0)", "", "```", *commands, "```", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
