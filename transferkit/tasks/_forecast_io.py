"""Forecasts of series files with a fitted run (``transferkit predict RUN series.csv``) and
the packaged Fracast-0 model, loaded once from the weights its wheel carries (offline)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.data.forecasting import WindowPlan, window
from transferkit.data.series_files import read_series_file
from transferkit.errors import ConfigError, DataError

FRACAST_HINT = "pip install fracast==0.1.0"


@lru_cache(maxsize=1)
def fracast_model() -> Any:
    """Fracast-0 with its bundled weights, or a string saying why it is unavailable."""
    try:
        from fracast import FracastModel
    except ImportError:
        return f"fracast is not installed ({FRACAST_HINT})"
    try:
        return FracastModel.from_pretrained()  # no argument: the weights inside the wheel
    except (OSError, RuntimeError, ValueError) as exc:
        return f"Fracast-0's bundled weights did not load ({exc})"


def plan_of(manifest: dict[str, Any]) -> WindowPlan:
    """The window plan a run was fitted with (transferkit.json's ``forecast``)."""
    plan = manifest.get("forecast") or {}
    if not plan.get("horizon") or not plan.get("context"):
        raise ConfigError("This run records no forecasting window (horizon, context); it was not "
                          "fitted by the forecasting task.")
    return WindowPlan(int(plan["horizon"]), int(plan["context"]), int(plan.get("season") or 1),
                      int(plan.get("origins") or 1), int(plan.get("stride") or plan["horizon"]))


def forecast_series(predictor: Any, named: list[tuple[str, np.ndarray]], where: str = "the input"
                    ) -> list[dict[str, Any]]:
    """One answer per series ``(name, values (T,) or (T, C))``: ``series``, ``forecast`` (the
    next H values) and ``quantiles`` ({level: H values}), in the series' units, from its
    last L values."""
    manifest = predictor.manifest
    plan = plan_of(manifest)
    channels = list((manifest.get("forecast") or {}).get("channels") or ["value"])
    quantiles = (manifest.get("forecast") or {}).get("quantiles") or None
    items, scales = [], []
    for sid, raw in named:
        values = np.asarray(raw, dtype=np.float64)
        values = values.reshape(len(values), -1) if values.ndim else values.reshape(0, 1)
        label = f"Series {sid!r} of {where}"
        if values.shape[1] != len(channels):
            raise DataError(f"{label} has {values.shape[1]} channel(s); the run was fitted on "
                            f"{len(channels)} ({', '.join(channels)}). Give the same columns.")
        seen = np.flatnonzero(np.isfinite(values[:, 0]))
        if not len(seen):
            raise DataError(f"{label} holds no observed value to forecast from.")
        values = values[: seen[-1] + 1]
        ctx, head, mean, std = window(values, len(values), plan, "auto", label)
        items.append(ctx.astype(np.float32))
        scales.append((head[plan.horizon:], mean, std))  # the seasonal-naive anchor, scale
    if not items:
        raise DataError(f"No series to forecast in {where}.")
    outputs = predictor.predict_proba_items(items)  # (N, H * Q) scaled corrections
    q = len(quantiles) if quantiles else 1
    out = np.asarray(outputs, dtype=np.float64).reshape(len(items), plan.horizon, q)
    answers = []
    for (sid, _), (base, mean, std), pred in zip(named, scales, out, strict=True):
        pred = (pred + base[:, None]) * std + mean  # (H, Q) in the series' units
        answer: dict[str, Any] = {"series": sid, "forecast": [float(v) for v in pred[:, q // 2]]}
        if quantiles:
            answer["quantiles"] = {f"{lv:g}": [float(v) for v in pred[:, k]] for k, lv in enumerate(quantiles)}
        answers.append(answer)
    return answers


def forecast_files(predictor: Any, inputs: Any) -> list[dict[str, Any]]:
    """One row per series and future step: ``series, step, forecast`` and a column per
    quantile (``q0.1`` ...), in the series' units, from each series' last L values."""
    paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    rows = []
    for path in paths:
        series = read_series_file(path)
        for answer in forecast_series(predictor, list(zip(series.ids, series.values, strict=True)), f"'{path}'"):
            for h, value in enumerate(answer["forecast"]):
                row: dict[str, Any] = {"series": answer["series"], "step": h + 1, "forecast": value}
                row.update({f"q{lv}": vals[h] for lv, vals in (answer.get("quantiles") or {}).items()})
                rows.append(row)
    return rows


class SeriesUnitsForecaster(nn.Module):
    """An exportable forecaster in the series' units: ``(x (B, L, C) raw context values,
    lengths (B,)) -> (B, H * Q)`` forecasts (Q quantiles per step, sorted), doing what the
    data layer and :func:`~transferkit.tasks._forecast_metrics.unscale` do around the model:
    scale each window by its context's mean and standard deviation per channel, add the
    scaled seasonal-naive anchor to the model's corrections, and put them back into units.
    Every context must hold L observed values (no missing values, no padding)."""

    def __init__(self, inner: nn.Module, horizon: int, season: int, quantiles: int) -> None:
        super().__init__()
        self.inner, self.horizon, self.season, self.q = inner, int(horizon), max(1, int(season)), int(quantiles)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:  # (B, H * Q)
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
        std = ((x - mean) ** 2).mean(dim=1, keepdim=True).sqrt()
        std = torch.where(std > 1e-8 * torch.clamp(mean.abs(), min=1.0), std, torch.ones_like(std))
        scaled = (x - mean) / std
        length = x.shape[1]
        m = min(self.season, length)
        steps = torch.arange(self.horizon, device=x.device) % m + (length - m)  # (H,)
        anchor = scaled[:, :, 0].index_select(1, steps)  # (B, H)
        out = self.inner(scaled, lengths).float().reshape(-1, self.horizon, self.q)
        out = torch.sort(out + anchor.unsqueeze(-1), dim=-1).values
        return (out * std[:, :, :1] + mean[:, :, :1]).flatten(1)  # the batch axis stays dynamic


__all__ = ["FRACAST_HINT", "SeriesUnitsForecaster", "forecast_files", "forecast_series", "fracast_model",
           "plan_of"]
