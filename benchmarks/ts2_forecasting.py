"""TS2 (forecasting): transferkit against seasonal naive, statsmodels ETS and ARIMA, and
Fracast-0 zero-shot, on the six bundled series sets, by test MASE.

Every method forecasts the same test windows: transferkit's rolling-origin split with each
built-in's defaults (H, L, m, origins; see README "Forecasting"). transferkit rows:

    transferkit fit --data NAME --task forecasting      ("transferkit (lags)": the default backbone)
    transferkit fit --data NAME --task forecasting --backbone fracast       ("fracast probe")
    transferkit fit --data NAME --task forecasting --backbone lags+fracast  ("lags+fracast probe")
    transferkit fit --data NAME --task forecasting --strategy auto          ("auto", --methods auto)
    transferkit fit --data NAME --task forecasting --backbone sequence:cnn --strategy full \
        --epochs E --seed S                                           ("transferkit")
    transferkit fit --data NAME --task forecasting --backbone lags+sequence:cnn --strategy full \
        --epochs E --seed S                                           ("hybrid", --methods hybrid)
    transferkit pretrain --data SOURCE --arch sequence:cnn --set task=forecasting ...
    transferkit fit --data NAME --task forecasting --backbone <source run> ...  ("pretrained")

``lags`` is the linear path (NLinear/DLinear): the window's last L values, probed by ridge
in closed form, its prior (seasonal naive, the context mean, the mean of the last k
seasons), alpha and the fraction of its correction of seasonal naive kept
chosen together by rolling-origin validation (the validation origins + up to 24 stride-1
origins inside the training history; ``transferkit.tasks._forecast_ridge``); it has no
randomness, so it runs once (seed 0). ``lags+fracast`` adds the packaged Fracast-0's
features beside the lags, so its ridge can also shrink towards Fracast's own forecast (the
"pretrained forecast" prior); the prior chosen on each dataset is listed under the table. Every SGD-trained transferkit fit ends by shrinking its
learned correction of seasonal naive by the fraction (0/25/50/75/100 %) with the lowest MASE
on the validation origins (``ForecastingTask.tune_head``). Test origins are never read for
either.

The source is m1-yearly (181 series) for the univariate single-series sets, and the four
other univariate sets (airline, lynx, shampoo-sales, solar, as one long CSV) for m1-yearly;
uschange has five channels, which a one-channel pretrained encoder cannot read, so it has
no pretrained row. Seasonal naive and Fracast-0 zero-shot are the fit's own baselines (the
same windows, the same L context values). The statsmodels peers are fitted per test window
on the **whole history before its origin** (more than the L values transferkit reads):
ETS = ``ExponentialSmoothing`` (additive damped trend, additive season when m > 1 and two
seasons of history), ARIMA = ``SARIMAX`` with a fixed order (1,1,1), plus a seasonal
(0,1,1,m) when 1 < m <= 12 (statsmodels has no automatic order search).

    python benchmarks/ts2_forecasting.py --seeds 3        # -> results/ts2_forecasting.md
    python benchmarks/ts2_forecasting.py --quick          # 1 seed, 5 epochs
    python benchmarks/ts2_forecasting.py --seeds 3 --datasets solar,uschange --no-pretrained
    python benchmarks/ts2_forecasting.py --methods lags,peers   # the rows that train no network
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # this checkout's transferkit, not another installed one

from _common import machine, mean_std, parser, setup, versions  # noqa: E402

DATASETS = ("airline", "lynx", "shampoo-sales", "solar", "uschange", "m1-yearly")
UNIVARIATE_SINGLE = ("airline", "lynx", "shampoo-sales", "solar")
#: backbones fitted by their default (the probe, solved in closed form)
PROBED = ("fracast", "lags+fracast")


def statsmodels_forecasts(history: np.ndarray, h: int, m: int) -> dict[str, np.ndarray]:
    """ETS and ARIMA forecasts of ``h`` steps from ``history`` (missing values dropped)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = history[np.isfinite(history)]
    out = {}
    seasonal = "add" if m > 1 and len(y) >= 2 * m + 2 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ets = ExponentialSmoothing(y, trend="add" if len(y) >= 4 else None, damped_trend=len(y) >= 4,
                                       seasonal=seasonal, seasonal_periods=m if seasonal else None).fit()
            out["ETS"] = np.asarray(ets.forecast(h), dtype=float)
        except (ValueError, np.linalg.LinAlgError):
            out["ETS"] = np.full(h, y[-1])
        s_order = (0, 1, 1, m) if 1 < m <= 12 and len(y) >= 2 * m + 4 else (0, 0, 0, 0)
        try:
            arima = SARIMAX(y, order=(1, 1, 1), seasonal_order=s_order).fit(disp=False)
            out["ARIMA"] = np.asarray(arima.forecast(h), dtype=float)
        except (ValueError, np.linalg.LinAlgError):
            out["ARIMA"] = np.full(h, y[-1])
    return out


def peer_mase(name: str) -> dict[str, float]:
    """Test MASE of the statsmodels peers on transferkit's own test windows of ``name``."""
    from transferkit.data import load_splits
    from transferkit.data.forecasting import read_series
    from transferkit.tasks._forecast_metrics import split_targets, window_mase

    splits = load_splits(name, targets="windows")
    series = read_series(name)
    plan = splits.train.meta["forecast"]
    r, extra = split_targets(splits.test.y)
    actual = (r + extra["anchor"]) * extra["std"][:, None] + extra["mean"][:, None]
    preds: dict[str, list[np.ndarray]] = {"ETS": [], "ARIMA": []}
    for i in range(len(r)):
        values = series.values[int(extra["series"][i])][:, 0]
        for key, f in statsmodels_forecasts(values[: int(extra["origin"][i])], plan["horizon"],
                                            plan["season"]).items():
            preds[key].append(f)
    return {k: float(np.nanmean(window_mase(actual, np.stack(v), extra["mase_scale"]))) for k, v in preds.items()}


def plain_rows(name: str) -> dict[str, list[float]]:
    """Seasonal naive and Fracast-0 zero-shot on the test windows, as the fit reports them."""
    from transferkit.data import load_splits
    from transferkit.tasks import get_task

    splits = load_splits(name, targets="windows")
    base = get_task("forecasting").baselines(splits.train, splits.test)
    out = {"seasonal naive": [base["seasonal_naive"]["mase"]]}
    if isinstance(base.get("fracast_zero_shot", {}).get("mase"), float):
        out["Fracast-0 zero-shot"] = [base["fracast_zero_shot"]["mase"]]
    return out


def other_series_csv(work: Path) -> Path:
    """The four univariate single-series built-ins as one long id,time,value CSV."""
    import pandas as pd

    from transferkit.data.forecasting import read_series

    rows = []
    for name in UNIVARIATE_SINGLE:
        values = read_series(name).values[0][:, 0]
        rows += [{"id": name, "time": t, "value": v} for t, v in enumerate(values)]
    path = work / "other-series.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def fit_mase(name: str, backbone: str, seed: int, epochs: int, out: Path) -> tuple[dict[str, Any], float]:
    import transferkit as tk

    t = time.perf_counter()
    # lags: the user's command names neither backbone nor strategy (the forecasting default,
    # lags, and its default, the linear probe, solved): `transferkit fit --data NAME --task forecasting`
    # fracast, lags+fracast: `transferkit fit --data NAME --task forecasting --backbone fracast`
    # (its default: the probe of the pretrained model's features, solved)
    # auto: `transferkit fit --data NAME --task forecasting --strategy auto` (its pool, its ladder)
    how = {} if backbone == "lags" else {"strategy": "auto"} if backbone == "auto" else \
        {"backbone": backbone} if backbone in PROBED else {"backbone": backbone, "strategy": "full", "epochs": epochs}
    run = tk.fit(data=name, task="forecasting", seed=seed, out=str(out), log=None, overwrite=True, **how)
    if backbone == "lags" and run.summary["backbone"] != "lags":
        raise SystemExit(f"the forecasting default is {run.summary['backbone']!r} now, not lags")
    return run.summary, time.perf_counter() - t


def main() -> None:
    p = parser(__doc__.split("\n")[0], "ts2_forecasting.md")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--no-pretrained", action="store_true",
                   help="Skip the pretrained rows (and their source pretraining).")
    p.add_argument("--peers-only", action="store_true",
                   help="Only the rows that train nothing: seasonal naive, ETS, ARIMA, Fracast-0.")
    p.add_argument("--methods", default="lags,cnn,pretrained,peers",
                   help="Rows to run: lags, fracast (--backbone fracast, probed), lags+fracast (probed; "
                   "its ridge can shrink towards Fracast's own forecast), auto (--strategy auto), cnn (sequence:cnn), "
                   "pretrained, peers (ETS/ARIMA), hybrid (lags+sequence:cnn).")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.epochs = 1, 5
    setup(install=False)
    import transferkit as tk

    names = [n for n in args.datasets.split(",") if n]
    methods = {m.strip() for m in args.methods.split(",") if m.strip()}
    if args.no_pretrained:
        methods.discard("pretrained")
    work = Path(tempfile.mkdtemp(prefix="ts2-"))
    rows: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    secs: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    chosen: dict[str, dict[str, str]] = {n: {} for n in names}
    sources: dict[str, Path] = {}

    def source_for(name: str) -> Path | None:
        key = "others" if name == "m1-yearly" else "m1-yearly" if name in UNIVARIATE_SINGLE else None
        if key is None:
            return None
        if key not in sources:
            data = str(other_series_csv(work)) if key == "others" else key
            extra = ["data.horizon=6", "data.context=24", "data.season=1", "data.origins=1"]
            tk.pretrain(data, "sequence:cnn", str(work / f"src-{key}"), epochs=args.epochs, log=None,
                        overrides=["task=forecasting", *extra])
            sources[key] = work / f"src-{key}"
        return sources[key]

    for name in names:
        if args.peers_only:
            rows[name].update(plain_rows(name))
            for k, v in peer_mase(name).items():
                rows[name][f"statsmodels {k}"] = [v]
            print(name, {k: round(v[0], 3) for k, v in rows[name].items()}, flush=True)
            write(args, names, rows, secs, chosen)
            continue
        # the rows that train nothing by SGD (one fit each): the default (lags) and the
        # packaged pretrained forecaster as a backbone, probed
        for method, label in (("lags", "transferkit (lags)"), ("fracast", "transferkit (fracast probe)"),
                              ("lags+fracast", "transferkit (lags+fracast probe)"), ("auto", "transferkit (auto)")):
            if method not in methods:
                continue
            s, sec = fit_mase(name, method, 0, args.epochs, work / f"{name}-{method}")
            rows[name][label], secs[name][label] = [s["metrics"]["test"]["mase"]], [sec]
            solver = (s["stages"][0] if s.get("stages") else {}).get("solver") or {}
            picked = f"{s['backbone']} / {s['strategy']}: " if method == "auto" else ""
            if solver.get("prior"):  # what the rolling-origin validation chose (never the test windows)
                chosen[name][label] = (f"{picked}{solver['prior']}, alpha {solver['alpha']:g}, kept {solver['shrink']:.0%} "
                                       f"(validation MASE {solver['score']:.3f}; best per prior: " + ", ".join(
                                           f"{p} {min(v.values()):.3f}" for p, v in solver["scores"].items()) + ")")
            rows[name].update(baseline_rows(s))
            print(name, method, {k: round(float(np.mean(v)), 3) for k, v in rows[name].items()}, flush=True)
            write(args, names, rows, secs, chosen)
        for seed in range(args.seeds if methods & {"cnn", "pretrained", "hybrid"} else 0):
            if "cnn" in methods:
                s, sec = fit_mase(name, "sequence:cnn", seed, args.epochs, work / f"{name}-{seed}")
                rows[name].setdefault("transferkit (sequence:cnn)", []).append(s["metrics"]["test"]["mase"])
                secs[name].setdefault("transferkit (sequence:cnn)", []).append(sec)
                rows[name].update(baseline_rows(s))
            if "hybrid" in methods:  # the linear path beside the network, trained together by SGD
                s, sec = fit_mase(name, "lags+sequence:cnn", seed, args.epochs, work / f"{name}-hyb-{seed}")
                rows[name].setdefault("transferkit (lags+sequence:cnn)", []).append(s["metrics"]["test"]["mase"])
                secs[name].setdefault("transferkit (lags+sequence:cnn)", []).append(sec)
            src = None if "pretrained" not in methods else source_for(name)
            if src is not None:
                s, sec = fit_mase(name, str(src), seed, args.epochs, work / f"{name}-pre-{seed}")
                rows[name].setdefault("transferkit pretrained", []).append(s["metrics"]["test"]["mase"])
                secs[name].setdefault("transferkit pretrained", []).append(sec)
            print(name, seed, {k: round(float(np.mean(v)), 3) for k, v in rows[name].items()}, flush=True)
            write(args, names, rows, secs, chosen)
        if "peers" in methods:
            t = time.perf_counter()
            for k, v in peer_mase(name).items():
                rows[name][f"statsmodels {k}"] = [v]
            secs[name]["statsmodels ETS + ARIMA (all test windows)"] = [time.perf_counter() - t]
        write(args, names, rows, secs, chosen)


def baseline_rows(summary: dict[str, Any]) -> dict[str, list[float]]:
    """Seasonal naive and Fracast-0 zero-shot as a fit reported them (the same test windows)."""
    out = {}
    for base, label in (("seasonal_naive", "seasonal naive"), ("fracast_zero_shot", "Fracast-0 zero-shot")):
        if isinstance((summary["baselines"].get(base) or {}).get("mase"), float):
            out[label] = [summary["baselines"][base]["mase"]]
    return out


def write(args: Any, names: list[str], rows: dict, secs: dict, chosen: dict | None = None) -> None:
    order = ("transferkit (auto)", "transferkit (lags)", "transferkit (fracast probe)", "transferkit (lags+fracast probe)", "transferkit (sequence:cnn)", "transferkit (lags+sequence:cnn)", "transferkit pretrained", "seasonal naive", "statsmodels ETS",
             "statsmodels ARIMA", "Fracast-0 zero-shot")
    lines = ["# TS2 forecasting: test MASE (lower is better)", "",
             f"`python benchmarks/ts2_forecasting.py --seeds {args.seeds} --epochs {args.epochs} "
             f"--methods {args.methods} --datasets {args.datasets}`; "
             "mean ± std over seeds for the transferkit rows (the others are deterministic). "
             "Method and settings: see the docstring of `benchmarks/ts2_forecasting.py`.", "",
             "| dataset | " + " | ".join(order) + " |", "|---" * (len(order) + 1) + "|"]
    for name in names:
        cells = []
        best = min((float(np.mean(v)) for v in rows[name].values()), default=None)
        for key in order:
            v = rows[name].get(key)
            if not v:
                cells.append("n/a")
                continue
            m, sd = mean_std(v)
            text = f"{m:.3f} ± {sd:.3f}" if len(v) > 1 else f"{m:.3f}"
            cells.append(f"**{text}**" if best is not None and abs(m - best) < 1e-12 else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Seconds per fit (mean, this machine): " + "; ".join(
        f"{n}: " + ", ".join(f"{k} {np.mean(v):.0f} s" for k, v in secs[n].items()) for n in names if secs[n]),
        ""] + ([
        "Prior, alpha and fraction kept, chosen by rolling-origin validation MASE (validation origins + "
        "origins in the training history; never the test windows):", ""] + [
        f"- {n}, {k}: {v}" for n in names for k, v in (chosen or {}).get(n, {}).items()] + [""]
        if any((chosen or {}).values()) else []) + [f"Machine: {json.dumps(machine())}", f"Versions: {json.dumps(versions(['torch', 'statsmodels', 'fracast']))}"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
