"""``print_run_summary``: any summary prints, whatever is missing or None."""

from __future__ import annotations

import pytest

from transferkit.cli.output import print_run_summary

FULL = {
    "command": "adapt", "backbone": "tabular:8", "strategy": "linear-probe",
    "metrics": {"test": {"accuracy": 0.75, "balanced_accuracy": 0.7, "macro_f1": 0.69}},
    "baselines": {"scratch": None,
                  "source_only": {"test": {"accuracy": 0.5}, "train_s": None},
                  "oracle": {"test": {"accuracy": 0.8}},
                  "majority": {"accuracy": 0.5, "balanced_accuracy": 0.5}},
    "transfer_gain": None, "timings": {"total_s": 1.25}, "warnings": ["look here"],
    "adapt": {"adaptation_gain": 0.25},
}


def test_an_adapt_summary_prints_its_baselines_and_adaptation_gain(capsys: pytest.CaptureFixture) -> None:
    print_run_summary(FULL, "runs/x")
    out = " ".join(capsys.readouterr().out.split())
    assert "75.0 %" in out and "1.2 s" in out and "source_only │ 50.0 %" in out
    assert "oracle (upper bound) │ 80.0 %" in out
    assert "adaptation gain over source-only: +25.0 points" in out
    assert "warning: look here" in out and "run directory: runs/x" in out
    assert "transfer gain" not in out  # None: not printed


@pytest.mark.parametrize("summary", [
    {},
    {"metrics": None, "baselines": None, "timings": None, "warnings": None, "adapt": None},
    {"metrics": {"test": None}, "timings": {"total_s": None}, "transfer_gain": None},
    {"metrics": {"test": {"accuracy": None, "balanced_accuracy": "n/a"}}},
    {"baselines": {"scratch": {"test": None, "train_s": None}, "source_only": {"train_s": "?"},
                   "x": 3}},
    {"adapt": {"adaptation_gain": None}, "transfer_gain": "?"},
])
def test_missing_or_none_fields_never_crash(summary: dict, capsys: pytest.CaptureFixture) -> None:
    print_run_summary(summary)
    out = capsys.readouterr().out
    assert "transferred" in out and "—" in out


def test_the_model_row_says_transferred_only_when_weights_were_carried_over(tmp_path, capsys) -> None:
    from transferkit.pipeline.build import model_label, run_model_label
    from transferkit.report import _metrics_section

    assert model_label("lags") == model_label("minirocket") == "fixed features (nothing transferred)"
    assert model_label("sequence:cnn") == "random init (nothing transferred)"
    assert model_label("efficientnet_lite0") == "transferred"
    assert model_label("efficientnet_lite0", pretrained=False) == "random init (nothing transferred)"
    assert model_label("sequence:cnn", weights="w.safetensors") == "transferred"
    (tmp_path / "config.yaml").write_text("backbone:\n  name: efficientnet_lite0\n  pretrained: false\n")
    assert run_model_label({"backbone": "efficientnet_lite0"}, tmp_path).startswith("random init")
    summary = {"task": "forecasting", "backbone": "lags", "strategy": "linear-probe",
               "metrics": {"test": {"mase": 0.5, "smape": 10.0, "mae": 1.0}}}
    print_run_summary(summary)
    out = " ".join(capsys.readouterr().out.split())
    assert "fixed features (nothing transferred)" in out and "│ transferred │" not in out
    card = {"columns": (("mase", "MASE", ".3f"),)}
    html = _metrics_section(summary, card, model_label("lags"))
    assert "model: fixed features (nothing transferred)" in html and "transferred model" not in html
