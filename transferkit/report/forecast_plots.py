"""The report's forecast figures: a few test series, their actual values over the test
windows, and each rolling origin's forecast with its interval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transferkit.report.plots import to_data_uri

#: how many series the report draws
MAX_SERIES = 4
COLORS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a")


def figure(width: float, height: float) -> Any:
    """A matplotlib Figure without pyplot (Agg: no window, no display), as the report's others."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def forecast_plot(arrays: dict[str, np.ndarray], names: Sequence[str] | None = None,
                  interval: Sequence[float] | None = None) -> str | None:
    """One panel per series (the first :data:`MAX_SERIES`): actual test values (black) and
    each origin's forecast (coloured) with the band between its outer quantiles.
    ``arrays`` holds ``y``, ``pred``, ``low``, ``high`` (N, H), ``series`` and ``origin`` (N,)."""
    y, pred = np.asarray(arrays["y"], dtype=float), np.asarray(arrays["pred"], dtype=float)
    if y.ndim != 2 or not len(y):
        return None
    series, origin = np.asarray(arrays["series"]).astype(int), np.asarray(arrays["origin"]).astype(int)
    low, high = np.asarray(arrays["low"], dtype=float), np.asarray(arrays["high"], dtype=float)
    chosen = list(dict.fromkeys(series.tolist()))[:MAX_SERIES]
    fig = figure(4.2 * min(2, len(chosen)), 3.0 * ((len(chosen) + 1) // 2))
    axes = np.atleast_1d(fig.subplots((len(chosen) + 1) // 2, min(2, len(chosen)))).reshape(-1)
    h = y.shape[1]
    for ax, s in zip(axes, chosen, strict=False):
        rows = np.flatnonzero(series == s)
        actual: dict[int, float] = {}
        for k, r in enumerate(rows[np.argsort(origin[rows])]):
            t = origin[r] + np.arange(h)
            actual.update({int(ti): float(v) for ti, v in zip(t, y[r], strict=True) if np.isfinite(v)})
            color = COLORS[k % len(COLORS)]
            if not np.allclose(low[r], high[r]):
                ax.fill_between(t, low[r], high[r], color=color, alpha=0.15, lw=0)
            ax.plot(t, pred[r], color=color, lw=1.4, label=f"forecast from t={origin[r]}")
        times = sorted(actual)
        ax.plot(times, [actual[t] for t in times], color="black", lw=1.0, marker=".", ms=3, label="actual")
        ax.set_title(str(names[s]) if names is not None and s < len(names) else f"series {s}", fontsize=9)
        ax.set_xlabel("time step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    return to_data_uri(fig)


def forecast_section(arrays: dict[str, np.ndarray], test: dict[str, Any], manifest: dict[str, Any]) -> str:
    """The report's HTML for a forecasting run's test windows (figure and caption)."""
    from html import escape

    plan = manifest.get("forecast") or {}
    uri = forecast_plot(arrays, plan.get("series"), test.get("interval"))
    if not uri:
        return ""
    band = (f"; the band spans the {test['interval'][0]:g}–{test['interval'][1]:g} quantiles "
            f"(coverage on the test windows {test['coverage']:.0%})") if test.get("interval") and \
        test.get("coverage") is not None else ""
    caption = (f"Test windows of up to {MAX_SERIES} series: the actual values and each rolling "
               f"origin's {plan.get('horizon', '')}-step forecast{band}.")
    return (f"<h2>Test forecasts</h2><figure><img src=\"{uri}\" alt=\"test forecasts\">"
            f"<figcaption>{escape(caption)}</figcaption></figure>")
