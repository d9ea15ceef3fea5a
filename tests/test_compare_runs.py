"""``transferkit compare RUN_A RUN_B``: the paired test of two finished runs on the same test split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transferkit.errors import ConfigError, RunDirError


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> str:
    return _fit(tmp_path_factory.mktemp("compare"), "probe", "--strategy", "linear-probe")


def _fit(tmp_path, name: str, *extra: str) -> str:
    from transferkit.cli import main

    out = tmp_path / name
    assert main(["fit", "--data", "breast-cancer-wdbc", "--backbone", "tabular", "--shots", "10",
                 "--max-val", "40", "--out", str(out), "--quiet", *extra]) == 0
    return str(out)


def test_two_fits_on_the_same_split_get_mcnemar_and_a_paired_ci(probe_run, tmp_path, capsys):
    from scipy.stats import binomtest

    from transferkit.cli import main

    a = probe_run
    b = _fit(tmp_path, "full", "--strategy", "full", "--epochs", "2")
    with np.load(f"{a}/test_predictions.npz") as z:
        ya, pa = z["y"], z["outputs"].argmax(1)
    with np.load(f"{b}/test_predictions.npz") as z:
        pb = z["outputs"].argmax(1)
    capsys.readouterr()  # what the fits printed
    assert main(["compare", a, b, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    only_a, only_b = int(((pa == ya) & (pb != ya)).sum()), int(((pa != ya) & (pb == ya)).sum())
    assert result["discordant"] == [only_a, only_b]
    assert result["diff"] == pytest.approx((pa == ya).mean() - (pb == ya).mean())
    p = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert result["p_value"] == pytest.approx(p)
    assert result["ci"][0] <= result["diff"] <= result["ci"][1]
    assert result["n"] == len(ya)
    assert result["sentence"].startswith("A vs B")
    # swapping the runs flips the difference and keeps the test
    assert main(["compare", b, a, "--json"]) == 0
    swapped = json.loads(capsys.readouterr().out)
    assert swapped["diff"] == pytest.approx(-result["diff"])
    assert swapped["p_value"] == pytest.approx(result["p_value"])


def test_runs_on_different_test_examples_are_refused(probe_run, tmp_path):
    from transferkit.jobs.compare import compare_runs

    a = probe_run
    b = _fit(tmp_path, "other-split", "--strategy", "linear-probe", "--set", "data.test_fraction=0.3")
    with pytest.raises(ConfigError, match="tested on different examples"):
        compare_runs(a, b)
    with pytest.raises(RunDirError, match="not a finished run"):
        compare_runs(a, tmp_path)
