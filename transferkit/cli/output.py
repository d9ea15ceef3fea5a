"""Console output shared by the commands (not a command: it registers nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


class PipeConsole(Console):
    """A rich console that leaves a closed pipe (``| head``) to the CLI's main, which ends
    quietly with status 0 (rich's own handler exits with status 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def console(stderr: bool = False) -> Console:
    """A rich console; wide enough for the tables when output is piped to a file."""
    import sys

    stream = sys.stderr if stderr else sys.stdout
    return PipeConsole(stderr=stderr, width=None if stream.isatty() else 150)


def _pct(value: Any) -> str:
    return f"{value * 100:.1f} %" if _is_number(value) else "—"


def _secs(value: Any) -> str:
    return f"{value:.1f} s" if _is_number(value) else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def paired_tests(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every paired test a summary holds: adapt's against the source-only model
    (``adapt.paired_test``), then each baseline's (``baselines.<name>.paired_test``)."""
    found = [_dict(_dict(summary.get("adapt")).get("paired_test"))]
    found += [_dict(_dict(base).get("paired_test")) for base in _dict(summary.get("baselines")).values()]
    return [p for p in found if p.get("sentence")]


def paired_sentences(summary: dict[str, Any]) -> list[str]:
    """The sentences of :func:`paired_tests`, as a user reads them."""
    return [str(p["sentence"]) for p in paired_tests(summary)]


def run_model_label(summary: dict[str, Any], run_dir: Path | str | None = None) -> str:
    from transferkit.pipeline.build import run_model_label as label

    return label(summary, run_dir)


def print_run_summary(summary: dict[str, Any], run_dir: Path | str | None = None) -> None:
    """A compact table of a run's test metrics, baselines and time (main process only).

    Every field may be missing or None (a baseline that was not trained, a run without a
    test split, an older summary): the cell then shows "—" or stays empty, never a crash.
    """
    from transferkit.pipeline import is_main_process

    if not is_main_process():
        return
    con = console()
    test = _dict(_dict(summary.get("metrics")).get("test"))
    from transferkit.tasks import get_task

    task = get_task(summary.get("task"))
    if task.targets != "classes":  # numbers, not classes: the task's own metric columns
        _print_task_summary(con, task, summary, run_dir)
        return
    table = Table(title=f"{summary.get('command', 'run')}: {summary.get('backbone')} / "
                        f"{summary.get('strategy')}")
    for col in ("model", "test accuracy", "balanced accuracy", "macro-F1", "time"):
        table.add_column(col)
    timings = _dict(summary.get("timings"))
    table.add_row(run_model_label(summary, run_dir), _pct(test.get("accuracy")), _pct(test.get("balanced_accuracy")),
                  _pct(test.get("macro_f1")), _secs(timings.get("total_s")))
    for name, base in _dict(summary.get("baselines")).items():
        if not isinstance(base, dict) or not base:
            continue
        btest = _dict(base.get("test", base))
        label = "oracle (upper bound)" if name == "oracle" else name
        table.add_row(label, _pct(btest.get("accuracy")), _pct(btest.get("balanced_accuracy")),
                      _pct(btest.get("macro_f1")), _secs(base.get("train_s")))
    con.print(table)
    if _is_number(summary.get("transfer_gain")):
        con.print(f"transfer gain over scratch: {summary['transfer_gain'] * 100:+.1f} points")
    gain = _dict(summary.get("adapt")).get("adaptation_gain")
    if _is_number(gain):
        con.print(f"adaptation gain over source-only: {gain * 100:+.1f} points")
    for sentence in paired_sentences(summary):
        con.print(sentence)
    cal = _dict(summary.get("calibration"))
    if cal.get("method") in ("temperature", "bcts") and _is_number(cal.get("ece_before")):
        on = "validation" if cal.get("fitted_on") in (None, "val") else str(cal.get("fitted_on"))
        con.print(f"calibration: {cal['method']} T {cal['temperature']:.3g} ({on}), test ECE "
                  f"{cal['ece_before']:.3f} -> {cal['ece_after']:.3f}")
    prior = _dict(summary.get("prior_correction"))
    if _is_number(prior.get("accuracy_after")):
        con.print(f"prior correction ({prior.get('method')}): test accuracy {_pct(prior['accuracy_before'])} "
                  f"-> {_pct(prior['accuracy_after'])}, balanced accuracy "
                  f"{_pct(prior['balanced_accuracy_before'])} -> {_pct(prior['balanced_accuracy_after'])}")
    decision = _dict(summary.get("decision"))
    if _is_number(decision.get("threshold")):
        con.print(f"decision ({decision.get('rule')}): predict '{decision.get('positive')}' when its "
                  f"probability is >= {decision['threshold']:.3f}; test precision "
                  f"{_pct(decision.get('test_precision'))}, recall {_pct(decision.get('test_recall'))}")
    extended = _dict(summary.get("extended"))
    if extended:
        rates = _dict(extended.get("lr_start"))
        where = (f"stage {extended.get('stage')} continued from step {extended.get('from_step')} to "
                 f"{extended.get('to_step')}, a new {extended.get('schedule')} schedule from learning rate "
                 + ", ".join(f"{k} {v:.3g}" for k, v in rates.items() if _is_number(v))
                 if extended.get("stage") else "no stage planned more steps")
        con.print(f"extended: epochs {extended.get('from_epochs')} -> {extended.get('to_epochs')}; {where}")
    for warning in summary.get("warnings") or []:
        con.print(f"[yellow]warning:[/yellow] {warning}")
    if run_dir is not None:
        con.print(f"run directory: {run_dir}")


def _print_task_summary(con: Console, task: Any, summary: dict[str, Any], run_dir: Path | str | None) -> None:
    """The run summary table with the metric columns the task's model card shows."""
    columns = task.card({})["columns"]

    def cell(value: Any, fmt: str) -> str:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return "—"
        return _pct(value) if fmt == "pct" else format(value, fmt)

    table = Table(title=f"{summary.get('command', 'run')}: {summary.get('backbone')} / "
                        f"{summary.get('strategy')}")
    for col in ("model", *(f"test {h}" for _, h, _ in columns), "time"):
        table.add_column(col)
    test = summary.get("metrics", {}).get("test", {})
    table.add_row(run_model_label(summary, run_dir), *(cell(test.get(k), f) for k, _, f in columns),
                  f"{summary.get('timings', {}).get('total_s', 0):.1f} s")
    for name, base in (summary.get("baselines") or {}).items():
        if isinstance(base, dict) and base:
            btest = _dict(base.get("test", base))
            label = "oracle (upper bound)" if name == "oracle" else name
            table.add_row(label, *(cell(btest.get(k), f) for k, _, f in columns),
                          _secs(base.get("train_s")) if "train_s" in base else "")
    con.print(table)
    gain_fmt = task.card({})["gain"]
    if _is_number(summary.get("transfer_gain")):
        con.print("transfer gain over scratch: "
                  + gain_fmt.format(gain=summary["transfer_gain"], gain_pct=summary["transfer_gain"] * 100))
    gain = _dict(summary.get("adapt")).get("adaptation_gain")
    if _is_number(gain):
        con.print("adaptation gain over source-only: " + gain_fmt.format(gain=gain, gain_pct=gain * 100))
    for sentence in paired_sentences(summary):
        con.print(sentence)
    for warning in summary.get("warnings", []):
        con.print(f"[yellow]warning:[/yellow] {warning}")
    if run_dir is not None:
        con.print(f"run directory: {run_dir}")
