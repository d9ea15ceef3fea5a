"""The report's plots: matplotlib figures (Agg backend) returned as inline PNG data URIs.

Figures are built with ``matplotlib.figure.Figure`` directly, never through pyplot, so
that writing a report never opens a window, touches global state or needs a display.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

_COLORS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a")


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def to_data_uri(fig: Any) -> str:
    """A figure as ``data:image/png;base64,...`` (self-contained, no file, no network)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            out[f"{prefix}{key}"] = float(value)
    return out


_AXIS_KEYS = {"step", "epoch", "time", "time_s", "elapsed_s", "global_step", "best_step"}


_BASELINE_PREFIXES = ("scratch-", "source_only-", "source-only-", "oracle-")


def _lay_out(records: Sequence[dict[str, Any]]) -> tuple[list[float], list[tuple[float, str]]]:
    """x positions (steps, stages laid end to end) and the stage boundaries."""
    xs: list[float] = []
    boundaries: list[tuple[float, str]] = []
    offset, last_x, last_stage = 0.0, 0.0, None
    for i, r in enumerate(records):
        stage = str(r.get("stage", ""))
        local = r.get("step", r.get("epoch", i))
        local = float(local) if isinstance(local, (int, float)) else float(i)
        if stage != last_stage:
            if last_stage is not None:
                offset = last_x
            boundaries.append((offset, stage))
            last_stage = stage
        last_x = offset + local
        xs.append(last_x)
    return xs, boundaries


def learning_curves(records: Sequence[dict[str, Any]]) -> str | None:
    """Losses and validation metrics over training, one point per logged evaluation.

    Steps restart per stage, so the model's stages are laid end to end and separated by
    dashed lines; baseline runs (stages named ``scratch-*`` ...) are drawn on their own
    x axis as thin dashed grey lines, so they never look like a continuation of training.
    """
    if not records:
        return None
    main = [r for r in records if not str(r.get("stage", "")).startswith(_BASELINE_PREFIXES)]
    base = [r for r in records if str(r.get("stage", "")).startswith(_BASELINE_PREFIXES)]
    flat_main, flat_base = [_flatten(r) for r in main], [_flatten(r) for r in base]
    keys = sorted({k for f in flat_main + flat_base for k in f} - _AXIS_KEYS)
    loss_keys = [k for k in keys if "loss" in k]
    metric_keys = [k for k in keys if k not in loss_keys and k != "lr" and not k.startswith("lr_")
                   and any(m in k for m in ("acc", "f1", "ece", "auc", "score", "metric"))]
    if not loss_keys and not metric_keys:
        return None
    xs, boundaries = _lay_out(main)
    xb, _ = _lay_out(base)
    base_name = str(base[0].get("stage", "baseline")).split("-", 1)[0] if base else ""
    panels = [p for p in (("loss", loss_keys), ("validation metrics", metric_keys)) if p[1]]
    fig = _figure(5.0 * len(panels), 3.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, panel_keys) in zip(axes, panels, strict=True):
        for j, key in enumerate(panel_keys[:6]):
            color = _COLORS[j % len(_COLORS)]
            pts = [(x, f[key]) for x, f in zip(xs, flat_main, strict=True) if key in f]
            if pts:
                px, py = zip(*pts, strict=True)
                ax.plot(px, py, marker="o", markersize=3, lw=1.5, color=color, label=key)
            pts = [(x, f[key]) for x, f in zip(xb, flat_base, strict=True) if key in f]
            if pts:
                px, py = zip(*pts, strict=True)
                ax.plot(px, py, lw=1.0, ls="--", color=color, alpha=0.45, label=f"{base_name} baseline: {key}")
        if len(boundaries) > 1:
            for bx, name in boundaries:
                ax.axvline(bx, color="#8c959f", lw=0.8, ls="--")
                ax.annotate(name, (bx, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                            color="#57606a", va="top", ha="left", rotation=90)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("step (stages end to end)" if len(boundaries) > 1 else "step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return to_data_uri(fig)


def overlay_images(masks: np.ndarray, images: np.ndarray | None) -> np.ndarray | None:
    """``images`` when there is one per mask at the masks' size (the masks can be drawn on
    them), else None."""
    if images is None:
        return None
    images, masks = np.asarray(images), np.asarray(masks)
    return images if len(images) >= len(masks) and images.shape[1:3] == masks.shape[1:] else None


def mask_pairs(true: np.ndarray, pred: np.ndarray, images: np.ndarray | None = None) -> str | None:
    """True masks ``(n, H, W)`` above predicted ones, coloured by class (tab20); with
    ``images`` ``(m, H, W[, C])`` uint8 (:func:`overlay_images`), each mask is overlaid on its
    image (class 0, the background, left clear; the others at 55 % opacity)."""
    true, pred = np.asarray(true), np.asarray(pred)
    if true.ndim != 3 or true.shape != pred.shape or not len(true):
        return None
    n = len(true)
    images = overlay_images(true, images)
    top = max(int(true.max()), int(pred.max()), 1)
    fig = _figure(1.6 * n + 0.4, 3.4)
    axes = fig.subplots(2, n, squeeze=False)
    for j in range(n):
        for i, (masks, label) in enumerate(((true, "true"), (pred, "predicted"))):
            ax = axes[i][j]
            if images is not None:
                ax.imshow(images[j], cmap="gray" if images[j].ndim == 2 else None, interpolation="nearest")
                shown = np.ma.masked_where(masks[j] == 0, masks[j])
                ax.imshow(shown, cmap="tab20", vmin=0, vmax=max(top, 19), alpha=0.55, interpolation="nearest")
            else:
                ax.imshow(masks[j], cmap="tab20", vmin=0, vmax=max(top, 19), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
    return to_data_uri(fig)


def confusion_matrix_plot(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> str | None:
    """Row-normalised confusion matrix with counts (true class rows, predicted columns)."""
    cm = np.asarray(matrix, dtype=np.float64)
    if cm.ndim != 2 or cm.size == 0:
        return None
    k = cm.shape[0]
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = min(3.0 + 0.45 * k, 11.0)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class")
    names = [str(c) for c in classes][:k] if classes else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center",
                  fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "#1f2328")
    return to_data_uri(fig)


def calibration_plot(curve: dict[str, Sequence[float]],
                     before: dict[str, Sequence[float]] | None = None) -> str | None:
    """Reliability diagram: accuracy per confidence bin against the diagonal; with
    ``before``, the curve of the model before calibration beside it."""
    conf = list(curve.get("confidence", []))
    acc = list(curve.get("accuracy", []))
    count = list(curve.get("count", [])) or [1.0] * len(conf)
    if not conf or len(conf) != len(acc):
        return None
    fig = _figure(4.6, 4.0)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", color="#8c959f", lw=1, label="perfectly calibrated")
    b_conf, b_acc = list((before or {}).get("confidence", [])), list((before or {}).get("accuracy", []))
    if b_conf and len(b_conf) == len(b_acc):
        b_count = list((before or {}).get("count", [])) or [1.0] * len(b_conf)
        b_sizes = 20 + 180 * np.asarray(b_count, dtype=float) / max(max(b_count), 1.0)
        ax.plot(b_conf, b_acc, color=_COLORS[1], lw=1.2, ls=":")
        ax.scatter(b_conf, b_acc, s=b_sizes, color=_COLORS[1], alpha=0.5, marker="s",
                   label="before calibration")
    sizes = 20 + 180 * np.asarray(count, dtype=float) / max(max(count), 1.0)
    ax.plot(conf, acc, color=_COLORS[0], lw=1.5)
    ax.scatter(conf, acc, s=sizes, color=_COLORS[0], alpha=0.7,
               label=("after calibration" if b_conf else "model") + " (size = examples)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return to_data_uri(fig)


def _pca_fit(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:k]
    if comps.shape[0] < k:  # fewer than 2 dimensions: pad with zeros
        comps = np.vstack([comps, np.zeros((k - comps.shape[0], x.shape[1]))])
    return mean, comps


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[rng.choice(len(x), n, replace=False)]


def projection_plot(before_s: np.ndarray | None, before_t: np.ndarray | None,
                    after_s: np.ndarray | None, after_t: np.ndarray | None,
                    max_points: int = 1500) -> str | None:
    """PCA of source and target features, before and after adaptation (one panel each).

    Each panel fits its own 2-D PCA on source and target together, so the panels show
    how well the two domains overlap in their own feature space.
    """
    rng = np.random.default_rng(0)
    panels = []
    for title, fs, ft in (("before adaptation", before_s, before_t),
                          ("after adaptation", after_s, after_t)):
        parts = [(name, _subsample(np.asarray(a, dtype=np.float64).reshape(len(a), -1), max_points, rng))
                 for name, a in (("source", fs), ("target", ft)) if a is not None and len(a)]
        if parts:
            panels.append((title, parts))
    if not panels:
        return None
    fig = _figure(4.6 * len(panels), 4.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, parts) in zip(axes, panels, strict=True):
        mean, comps = _pca_fit(np.vstack([p for _, p in parts]))
        for j, (name, pts) in enumerate(parts):
            z = (pts - mean) @ comps.T
            ax.scatter(z[:, 0], z[:, 1], s=8, alpha=0.55, color=_COLORS[j], label=f"{name} ({len(pts)})")
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return to_data_uri(fig)


def features_plot(features: np.ndarray, labels: np.ndarray | None, classes: Sequence[str],
                  max_points: int = 2000) -> str | None:
    """PCA of test features, coloured by class when labels are known."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim < 2 or len(x) < 2:
        return None
    x = x.reshape(len(x), -1)
    rng = np.random.default_rng(0)
    idx = np.arange(len(x)) if len(x) <= max_points else rng.choice(len(x), max_points, replace=False)
    mean, comps = _pca_fit(x[idx])
    z = (x[idx] - mean) @ comps.T
    fig = _figure(5.6, 4.4)
    ax = fig.subplots()
    if labels is not None and len(labels) == len(x):
        import matplotlib

        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        lab = np.asarray(labels)[idx]
        for c in np.unique(lab):
            name = classes[int(c)] if 0 <= int(c) < len(classes) else str(c)
            sel = lab == c
            ax.scatter(z[sel, 0], z[sel, 1], s=8, alpha=0.6, color=cmap(int(c) % cmap.N), label=name)
        if len(np.unique(lab)) <= 20:
            ax.legend(fontsize=7, markerscale=1.5, ncols=2 if len(np.unique(lab)) > 10 else 1)
    else:
        ax.scatter(z[:, 0], z[:, 1], s=8, alpha=0.6, color=_COLORS[0])
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.grid(alpha=0.3)
    return to_data_uri(fig)


def _short(value: float) -> str:
    """A tick label: 3 significant digits with k/M for thousands and millions."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


#: the scatter and residual plots draw at most this many test points (a seeded subsample)
MAX_POINTS = 5000


def regression_plots(y: np.ndarray, pred: np.ndarray,
                     by_decile: Sequence[dict[str, Any]] | None = None) -> dict[str, str] | None:
    """Three figures of a regression run's test predictions, by name: ``scatter`` (predicted
    against true, with the diagonal), ``residuals`` (predicted minus true, against the
    prediction) and ``deciles`` (MAE and bias within each decile of the true target)."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    keep = np.isfinite(y) & np.isfinite(pred)
    y, pred = y[keep], pred[keep]
    if not len(y):
        return None
    if len(y) > MAX_POINTS:
        idx = _subsample(np.arange(len(y))[:, None], MAX_POINTS, np.random.default_rng(0))[:, 0]
        ys, ps = y[idx], pred[idx]
    else:
        ys, ps = y, pred
    alpha = float(np.clip(30.0 / np.sqrt(len(ys)), 0.1, 0.8))
    out: dict[str, str] = {}

    fig = _figure(4.6, 4.2)
    ax = fig.subplots()
    lo, hi = float(min(ys.min(), ps.min())), float(max(ys.max(), ps.max()))
    ax.plot([lo, hi], [lo, hi], ls="--", color="#8c959f", lw=1, label="perfect (predicted = true)")
    ax.scatter(ys, ps, s=8, alpha=alpha, color=_COLORS[0], label=f"test examples ({len(ys)})")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    out["scatter"] = to_data_uri(fig)

    fig = _figure(4.6, 4.2)
    ax = fig.subplots()
    ax.axhline(0.0, ls="--", color="#8c959f", lw=1)
    ax.scatter(ps, ps - ys, s=8, alpha=alpha, color=_COLORS[1])
    ax.set_xlabel("predicted value")
    ax.set_ylabel("residual (predicted − true)")
    ax.grid(alpha=0.3)
    out["residuals"] = to_data_uri(fig)

    if by_decile:
        fig = _figure(5.6, 3.6)
        ax = fig.subplots()
        pos = np.arange(len(by_decile))
        ax.bar(pos - 0.2, [b["mae"] for b in by_decile], width=0.4, color=_COLORS[0], label="MAE")
        ax.bar(pos + 0.2, [b["bias"] for b in by_decile], width=0.4, color=_COLORS[4],
               label="bias (mean predicted − true)")
        ax.axhline(0.0, color="#57606a", lw=0.8)
        ax.set_xticks(pos, [f"≤{_short(b['high'])}" for b in by_decile], fontsize=8)
        ax.set_xlabel("decile of the true value (its upper end)")
        ax.set_ylabel("error")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
        out["deciles"] = to_data_uri(fig)
    return out
