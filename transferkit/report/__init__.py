"""The HTML report of a run: one self-contained ``report.html`` in the run directory.

It shows what was done (command, data, backbone, strategy and why they were chosen), the
metrics beside the baselines (oracle marked as such), learning curves, the confusion
matrix, per-class metrics, a reliability diagram, a PCA projection of the features when
the run stored them, timings, and the leakage and negative-transfer warnings. Plots are
inline PNG data URIs and the page has no script and no external resource, so it opens
offline, in any browser, and can be mailed as one file.

>>> write_report("runs/digits-efficientnet_lite0-linear-probe")  # doctest: +SKIP
PosixPath('runs/digits-efficientnet_lite0-linear-probe/report.html')
"""

from __future__ import annotations

import json
import string
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import RunDirError
from transferkit.rundir import MANIFEST, SUMMARY, TEST_PREDICTIONS, atomic_write_text

REPORT = "report.html"
METRICS_LOG = "metrics.jsonl"
PROJECTION = "projection.npz"
FEATURES_TEST = "features_test.npy"
LABELS_TEST = "labels_test.npy"

__all__ = ["REPORT", "build_html", "write_report"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"'{path}' is corrupt ({exc}). Re-run the command that wrote it.") from None


def read_metrics_log(path: Path) -> list[dict[str, Any]]:
    """The records of metrics.jsonl; unreadable lines (an interrupted write) are skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _fmt(value: Any, pct: bool = True) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    return f"{value * 100:.1f} %" if pct else f"{value:.3f}"


def _dl(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in items
                   if v not in (None, "", [], {}))
    return f"<dl>{rows}</dl>"


def _figure(uri: str | None, alt: str, caption: str) -> str:
    if not uri:
        return ""
    return (f'<figure><img src="{uri}" alt="{escape(alt)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _card(summary: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """What the run's task says the report shows (its metric columns and gain wording)."""
    from transferkit.tasks import get_task

    return get_task(summary.get("task") or manifest.get("task")).card(manifest)


def _selection_metric(summary: dict[str, Any]) -> str:
    from transferkit.tasks import get_task

    return get_task(summary.get("task")).selection_metric


def _metrics_section(summary: dict[str, Any], card: dict[str, Any], label: str = "transferred") -> str:
    metrics = summary.get("metrics") or {}
    baselines = summary.get("baselines") or {}
    cols = tuple((key, fmt == "pct") for key, _, fmt in card["columns"])
    head = "".join(f'<th class="num">{escape(c.replace("_", " "))}</th>' for c, _ in cols)
    rows = []

    def row(label: str, split: str, m: dict[str, Any], css: str = "") -> None:
        ci = m.get("ci") or {}

        def cell(c: str, pct: bool) -> str:
            if c not in ci:
                return _fmt(m.get(c), pct)
            lo, hi = ci[c]
            return f'{_fmt(m.get(c), pct)}<br><small>{_fmt(lo, pct)} … {_fmt(hi, pct)}</small>'

        cells = "".join(f'<td class="num">{cell(c, pct)}</td>' for c, pct in cols)
        rows.append(f'<tr class="{css}"><td>{label}</td><td>{escape(split)}</td>{cells}</tr>')

    for split in ("test", "val"):
        if metrics.get(split):
            name = "transferred model" if label == "transferred" else f"model: {label}"
            row(f"<b>{escape(name)}</b>", split, metrics[split], "main" if split == "test" else "")
    labels = {"scratch": "from scratch (same architecture and budget, random init)",
              "source_only": "source only (trained on the source, no target labels)",
              "majority": "majority class (always the most frequent class of the labelled data "
                          "before k-shot sampling)"}
    for name, base in baselines.items():
        if not base:
            continue
        test = base.get("test", base) if isinstance(base, dict) else {}
        if name == "oracle":
            label = ("<b>oracle</b> &mdash; trained with the target labels the method does not "
                     "get; an upper bound, not a competitor")
            row(label, "test", test, "oracle")
        else:
            row(escape(labels.get(name, name.replace("_", " "))), "test", test)
    gain = summary.get("transfer_gain")
    gain_html = ""
    if isinstance(gain, (int, float)):
        css = "good" if gain >= 0 else "bad"
        words = card["gain"].format(gain=gain, gain_pct=gain * 100)
        gain_html = (f'<p>Transfer gain over the from-scratch baseline: <b class="{css}">'
                     f"{escape(words)}</b> on the test set.</p>")
    from transferkit.cli.output import paired_tests

    for paired in paired_tests(summary):  # adapt's vs source-only, then every baseline's
        css = {"helped": "good", "negative": "bad"}.get(paired.get("verdict"), "")
        gain_html += (f'<p class="{css}">{escape(paired["sentence"])} &mdash; paired test on the same '
                      f'test examples ({escape(str(paired.get("test", "")))}).</p>')
    hints = {"scratch": "from scratch (add <code>--compare scratch</code> to fit)",
             "source_only": "source only (needs a source domain: <code>transferkit adapt</code>)"}
    missing = [hints[n] for n in hints if not baselines.get(n)]
    note = (f'<p class="note">Baselines not run for this report: {"; ".join(missing)}.</p>'
            if missing else "")
    ci = (metrics.get("test") or {}).get("ci") or {}
    ci_note = (f'<p class="note">Below each test figure: its {ci["level"] * 100:.0f} % bootstrap '
               f'confidence interval ({ci["n_boot"]} resamples of the test set'
               f'{", within each class" if ci.get("stratified") else ""}).</p>' if ci else "")
    return (f"<h2>Metrics</h2><table><thead><tr><th>model</th><th>split</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{ci_note}{gain_html}{note}")


def _per_class_table(per_class: dict[str, dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(name))}</td><td class='num'>{_fmt(m.get('precision'))}</td>"
        f"<td class='num'>{_fmt(m.get('recall'))}</td><td class='num'>{_fmt(m.get('f1'))}</td>"
        f"<td class='num'>{int(m.get('support', 0))}</td></tr>"
        for name, m in per_class.items()
    )
    return ("<table><thead><tr><th>class</th><th class='num'>precision</th><th class='num'>recall"
            "</th><th class='num'>F1</th><th class='num'>support</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _projection_section(run: Path, classes: list[str]) -> str:
    from transferkit.report import plots

    proj = run / PROJECTION
    if proj.is_file():
        try:
            with np.load(proj, allow_pickle=False) as z:
                arrays = {k: z[k] if k in z.files else None
                          for k in ("before_s", "before_t", "after_s", "after_t")}
        except (ValueError, OSError) as exc:
            return (f"<h2>Feature projection</h2><p class='note'>{escape(PROJECTION)} could not be "
                    f"read ({escape(str(exc))}).</p>")
        uri = plots.projection_plot(**arrays)
        return "<h2>Source and target features</h2>" + _figure(
            uri, "PCA of source and target features before and after adaptation",
            "2-D PCA of source (blue) and target (red) features. Overlapping clouds after "
            "adaptation mean the domains were aligned; class structure should remain.")
    feats = run / FEATURES_TEST
    if feats.is_file():
        try:
            x = np.load(feats, allow_pickle=False, mmap_mode="r")
            labels = np.load(run / LABELS_TEST, allow_pickle=False) if (run / LABELS_TEST).is_file() else None
        except (ValueError, OSError) as exc:
            return (f"<h2>Feature projection</h2><p class='note'>{escape(FEATURES_TEST)} could not "
                    f"be read ({escape(str(exc))}).</p>")
        uri = plots.features_plot(np.asarray(x), labels, classes)
        return "<h2>Test features</h2>" + _figure(
            uri, "PCA of the test features", "2-D PCA of the model's test-set features"
            + (", coloured by true class." if labels is not None else "."))
    return ""


def _header(title: str, run: Path, summary: dict[str, Any]) -> str:
    return (f"<header><h1>{escape(title)}</h1><p class='sub'>{escape(run.name)} · "
            f"{escape(str(summary.get('task', 'classification')))} · backbone "
            f"<b>{escape(str(summary.get('backbone')))}</b> · strategy "
            f"<b>{escape(str(summary.get('strategy')))}</b></p></header>")


def _headline(summary: dict[str, Any], test: dict[str, Any], card: dict[str, Any]) -> str:
    stats = [(("test " if i == 0 else "") + header, _fmt(test.get(key), fmt == "pct"))
             for i, (key, header, fmt) in enumerate(card["columns"][:3])]
    gain = summary.get("transfer_gain")
    if isinstance(gain, (int, float)):
        words = escape(card["gain_short"].format(gain=gain, gain_pct=gain * 100))
        stats.append(("gain vs scratch", f'<span class="{"good" if gain >= 0 else "bad"}">{words}</span>'))
    total = (summary.get("timings") or {}).get("total_s")
    if isinstance(total, (int, float)):
        stats.append(("total time", f"{total:.1f} s"))
    return "<div class='headline'>" + "".join(
        f"<div class='stat'><div class='v'>{v}</div><div class='k'>{escape(k)}</div></div>"
        for k, v in stats) + "</div>"


def _warnings_section(summary: dict[str, Any]) -> str:
    warnings = [str(w) for w in summary.get("warnings") or []]
    if not warnings:
        return ""
    items = []
    for w in warnings:
        kind = w.split(":", 1)[0] if ":" in w else "warning"
        css = "warning negative" if kind.startswith("negative") else "warning"
        items.append(f"<div class='{css}'><b>{escape(kind)}</b> {escape(w.split(':', 1)[-1].strip())}</div>")
    return "<h2>Warnings</h2>" + "".join(items)


def _what_was_done(summary: dict[str, Any], manifest: dict[str, Any], classes: list[str]) -> list[str]:
    """The setup (data, backbone, strategy, selection), why it was chosen, and the stages."""
    data = summary.get("data") or {}
    backbone_desc = manifest.get("backbone") or {}
    parts = ["<h2>What was done</h2>" + _dl([
        ("command", summary.get("command")),
        ("task", summary.get("task")),
        ("target data", data.get("target")),
        ("source data", data.get("source")),
        ("examples", f"{data.get('n_train', '?')} train / {data.get('n_val', '?')} val / "
                     f"{data.get('n_test', '?')} test" if data else None),
        ("classes", f"{len(classes)}: " + ", ".join(classes[:30]) + (" …" if len(classes) > 30 else "")
         if classes else None),
        ("backbone", summary.get("backbone")),
        ("feature dimension", backbone_desc.get("feature_dim")),
        ("modality", manifest.get("modality")),
        ("strategy", summary.get("strategy")),
        ("model selection", ", ".join(f"{k}: {v}" for k, v in (summary.get("selection") or {}).items()
                                      if v is not None)),
        ("transferkit", summary.get("transferkit_version")),
    ])]
    if summary.get("choice"):
        parts.append(f"<div class='choice'><b>Why this backbone and strategy:</b> "
                     f"{escape(str(summary['choice']))}</div>")
    stages = summary.get("stages") or []
    if stages:
        metric = _selection_metric(summary)
        card = _card(summary, manifest)
        pct = next((fmt == "pct" for key, _, fmt in card["columns"] if key == metric), True)
        rows = "".join(
            f"<tr><td>{escape(str(s.get('stage')))}</td><td class='num'>{s.get('steps', '—')}</td>"
            f"<td class='num'>{_fmt(s.get('best_metric'), pct)}</td><td>{escape(str(s.get('stopped', '')))}</td>"
            f"<td class='num'>{_fmt(s.get('seconds'), pct=False)}</td></tr>" for s in stages)
        parts.append("<h3>Training stages</h3><table><thead><tr><th>stage</th><th class='num'>steps"
                     f"</th><th class='num'>best val {escape(metric)}</th><th>stopped"
                     "</th><th class='num'>"
                     f"seconds</th></tr></thead><tbody>{rows}</tbody></table>")
    return parts


def _curves_section(run: Path) -> str:
    from transferkit.report import plots

    records = read_metrics_log(run / METRICS_LOG)
    curves = plots.learning_curves(records)
    if not curves:
        return ""
    return "<h2>Learning curves</h2>" + _figure(
        curves, "learning curves", f"{len(records)} evaluations from {METRICS_LOG}; "
        "early stopping used the validation split only.")


def _errors_sections(test: dict[str, Any], classes: list[str], summary: dict[str, Any] | None = None
                     ) -> list[str]:
    """The confusion matrix and the reliability diagram (before/after temperature scaling
    when the run calibrated) side by side, the prior correction, then per-class metrics."""
    from transferkit.report import plots

    parts, detail = [], []
    cal = (summary or {}).get("calibration") or {}
    if test.get("confusion_matrix"):
        detail.append(_figure(plots.confusion_matrix_plot(test["confusion_matrix"], classes),
                              "confusion matrix", "Test confusion matrix (colour: row-normalised; "
                              "numbers: counts)."))
    if test.get("calibration"):
        ece = test.get("ece")
        calibrated = cal.get("method") in ("temperature", "bcts")
        caption = "Reliability diagram on the test set" + (
            f"; expected calibration error {ece:.3f}." if isinstance(ece, float) else ".")
        if calibrated and isinstance(cal.get("ece_before"), float):
            how = "temperature scaling" if cal["method"] == "temperature" else \
                "bias-corrected temperature scaling (one temperature and one bias per class)"
            on = cal.get("fitted_on_words") or f"{cal.get('n_val', '?')} validation examples"
            caption = (f"Reliability diagram on the test set, before and after {how} "
                       f"(T = {cal['temperature']:.3g}, fitted on {on}): expected calibration error "
                       f"{cal['ece_before']:.3f} before, {cal['ece_after']:.3f} after.")
        detail.append(_figure(plots.calibration_plot(test["calibration"],
                                                     cal.get("curve_before") if calibrated else None),
                              "calibration plot", caption))
    if detail:
        parts.append("<h2>Errors and calibration</h2><div class='grid'>" + "".join(detail) + "</div>")
    prior = (summary or {}).get("prior_correction") or {}
    if isinstance(prior.get("accuracy_after"), float):
        shown = ", ".join(f"{escape(str(c))} {p:.3f}" for c, p in (prior.get("prior") or {}).items())
        parts.append(
            "<h2>Label-prior correction</h2><p>Predictions were moved to the class prior "
            f"{shown} ({escape(str(prior.get('source', prior.get('method'))))}): test accuracy "
            f"{prior['accuracy_before'] * 100:.1f} % &rarr; {prior['accuracy_after'] * 100:.1f} %, "
            f"balanced accuracy {prior['balanced_accuracy_before'] * 100:.1f} % &rarr; "
            f"{prior['balanced_accuracy_after'] * 100:.1f} %.</p>")
    decision = (summary or {}).get("decision") or {}
    if isinstance(decision.get("threshold"), float):
        parts.append(
            f"<h2>Decision threshold</h2><p>Rule {escape(str(decision.get('rule')))}: the model answers "
            f"'{escape(str(decision.get('positive')))}' when its probability is at least "
            f"{decision['threshold']:.3f} ({escape(str(decision.get('chosen_by', '')))}). On the test set: "
            f"precision {decision.get('test_precision', 0) * 100:.1f} %, recall "
            f"{decision.get('test_recall', 0) * 100:.1f} %.</p>")
    if test.get("per_class"):
        parts.append("<h2>Per-class metrics (test)</h2>" + _per_class_table(test["per_class"]))
    if test.get("per_type"):  # token classification: entity scores per type
        parts.append("<h2>Per-type entity metrics (test)</h2>" + _per_class_table(test["per_type"]))
    examples = (summary or {}).get("error_examples") or []
    if examples:  # token classification: the first test sentences with a wrong entity
        rows = "".join(f"<tr><td>{escape(e['sentence'])}</td><td>{escape('; '.join(e['gold']) or '-')}</td>"
                       f"<td>{escape('; '.join(e['predicted']) or '-')}</td></tr>" for e in examples)
        parts.append("<h2>Some test errors</h2><table><thead><tr><th>sentence</th><th>gold entities</th>"
                     f"<th>predicted entities</th></tr></thead><tbody>{rows}</tbody></table>")
    if test.get("per_label"):  # label sets: each label's own figures and decision threshold
        parts.append("<h2>Per-label metrics (test)</h2>" + _per_label_table(test["per_label"])
                     + (f"<p>Thresholds: {escape(str(test['thresholds_from']))}.</p>"
                        if test.get("thresholds_from") else ""))
    return parts


def _predictions_section(run: Path, test: dict[str, Any]) -> str:
    """A regression run's test predictions (``test_predictions.npz``): predicted against
    true, the residuals, and the error by decile of the true target (with its table)."""
    from transferkit.report import plots

    path = run / TEST_PREDICTIONS
    if not path.is_file():
        return ""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
        if "mask_true" in arrays:  # a segmentation run: a few test masks and their predictions
            return _masks_section(arrays["mask_true"], arrays["mask_pred"], arrays.get("images"))
        if "boxes_true" in arrays:  # a detection run: a few test images, true and predicted boxes
            from transferkit.report.boxes import boxes_section

            manifest = _read_json(run / MANIFEST) if (run / MANIFEST).is_file() else {}
            return boxes_section(arrays, list(manifest.get("classes") or []), _figure)
        if "pred" not in arrays:  # class probabilities kept for `transferkit compare`, drawn elsewhere
            return ""
        y, pred = arrays["y"], arrays["pred"]
    except (ValueError, OSError, KeyError) as exc:
        return (f"<h2>Test predictions</h2><p class='note'>{escape(TEST_PREDICTIONS)} could not be "
                f"read ({escape(str(exc))}).</p>")
    if "origin" in arrays:  # forecasts: windows of series, drawn over time
        from transferkit.report.forecast_plots import forecast_section

        manifest = _read_json(run / MANIFEST) if (run / MANIFEST).is_file() else {}
        return forecast_section(arrays, test, manifest)
    deciles = test.get("by_decile")
    if deciles is None:  # an older summary: the same numbers from the saved predictions
        from transferkit.tasks.regression import error_by_decile

        deciles = error_by_decile(y, pred)
    figs = plots.regression_plots(y, pred, deciles)
    if not figs:
        return ""
    out = ["<h2>Test predictions</h2><div class='grid'>",
           _figure(figs["scatter"], "predicted against true values",
                   "Predicted against true value on the test set; points on the dashed line are "
                   "exact. A flat band means the model cannot reach that range (e.g. a target "
                   "capped in the training data)."),
           _figure(figs["residuals"], "residuals", "Residual (predicted − true) against the "
                   "prediction; a trend or a funnel shape means systematic error."),
           "</div>"]
    if "deciles" in figs:
        out.append(_figure(figs["deciles"], "error by decile of the true value",
                           "Mean absolute error and bias within each decile of the true test value."))
        rows = "".join(f"<tr><td class='num'>{b['low']:.4g} – {b['high']:.4g}</td><td class='num'>{b['n']}</td>"
                       f"<td class='num'>{b['mae']:.4g}</td><td class='num'>{b['bias']:+.4g}</td></tr>"
                       for b in deciles)
        out.append("<table><thead><tr><th>true value (decile)</th><th>n</th><th>MAE</th>"
                   f"<th>bias</th></tr></thead><tbody>{rows}</tbody></table>")
    return "".join(out)
def _masks_section(true: np.ndarray, pred: np.ndarray, images: np.ndarray | None = None) -> str:
    """The first test images' true masks above the predicted ones, one colour per class,
    overlaid on the images when the run kept them."""
    from transferkit.report import plots

    uri = plots.mask_pairs(true, pred, images)
    over = plots.overlay_images(true, images) is not None
    return "" if uri is None else "<h2>Test predictions</h2>" + _figure(
        uri, "true and predicted masks", "The first test images' masks: true (top row) and "
        "predicted (bottom row), one colour per class"
        + (", overlaid on the images (background left clear)." if over else " (background: the first colour)."))


def _per_label_table(per_label: dict[str, dict[str, Any]]) -> str:
    keys = ("precision", "recall", "f1", "ap", "threshold")
    rows = "".join(
        f"<tr><td>{escape(str(name))}</td>"
        + "".join(f"<td class='num'>{_fmt(m.get(k), pct=k != 'threshold')}</td>" for k in keys)
        + f"<td class='num'>{int(m.get('support', 0))}</td></tr>"
        for name, m in per_label.items())
    return ("<table><thead><tr><th>label</th>"
            + "".join(f"<th class='num'>{h}</th>" for h in ("precision", "recall", "F1", "AP", "threshold", "support"))
            + f"</tr></thead><tbody>{rows}</tbody></table>")


def _timings_section(summary: dict[str, Any]) -> str:
    timings = summary.get("timings") or {}
    if not timings:
        return ""
    rows = "".join(f"<tr><td>{escape(k.removesuffix('_s').replace('_', ' '))}</td>"
                   f"<td class='num'>{v:.2f} s</td></tr>" for k, v in timings.items()
                   if isinstance(v, (int, float)))
    return f"<h2>Timings</h2><table><tbody>{rows}</tbody></table>"


def _footer(manifest: dict[str, Any], run: Path) -> str:
    from transferkit import __version__

    versions = manifest.get("versions") or {}
    return ("<footer>Written by transferkit " + escape(__version__) + (
        " · " + escape(", ".join(f"{k} {v}" for k, v in versions.items())) if versions else "")
        + f" · run directory <code>{escape(str(run))}</code></footer>")


def _model_label(summary: dict[str, Any], run: Path) -> str:
    from transferkit.pipeline.build import run_model_label

    return run_model_label(summary, run)


def build_html(run_dir: str | Path) -> str:
    """The report page of a run directory as one HTML string."""
    from transferkit import __version__

    run = Path(run_dir)
    if not (run / SUMMARY).is_file():
        raise RunDirError(f"'{run}' has no {SUMMARY}: the report is written from a finished run. "
                          "Pass the directory that `transferkit fit` wrote, or finish the run "
                          "(`transferkit fit ... --resume`).")
    summary = _read_json(run / SUMMARY)
    manifest = _read_json(run / MANIFEST) if (run / MANIFEST).is_file() else {}
    data = summary.get("data") or {}
    classes = [str(c) for c in (data.get("classes") or manifest.get("classes") or [])]
    test = (summary.get("metrics") or {}).get("test") or {}
    title = f"{summary.get('command', 'run')} · {data.get('target') or run.name}"
    card = _card(summary, manifest)
    parts = [
        _header(title, run, summary),
        _headline(summary, test, card),
        _warnings_section(summary),
        *_what_was_done(summary, manifest, classes),
        _metrics_section(summary, card, _model_label(summary, run)),
        _curves_section(run),
        *_errors_sections(test, classes, summary),
        _predictions_section(run, test),
        _projection_section(run, classes),
        _timings_section(summary),
        _footer(manifest, run),
    ]
    template = string.Template(resources.files("transferkit.report").joinpath("template.html")
                               .read_text(encoding="utf-8"))
    return template.substitute(title=escape(title), version=escape(__version__),
                               content="\n".join(p for p in parts if p))


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into ``run_dir`` (atomically) and return its path."""
    run = Path(run_dir)
    html = build_html(run)
    path = run / REPORT
    atomic_write_text(path, html)
    return path
