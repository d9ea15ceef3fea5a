"""Multi-label beyond fit: LogME on label sets (rank), --strategy auto, adapt with the
feature-alignment methods, the scikit-learn estimator on a 0/1 indicator matrix, and the
pretrain -> fit chain; refusals for what needs one class label per example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ranking.logme_reference import slow_logme_column

import transferkit as tk
from transferkit.errors import ConfigError
from transferkit.ranking import SCORES
from transferkit.ranking.logme import LogMEScore


@pytest.mark.parametrize(("n", "d"), [(150, 8), (30, 50)])
def test_logme_on_label_sets_is_the_mean_evidence_of_the_label_columns(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    f = rng.normal(size=(n, d))
    y = np.stack([f[:, 0] > 0, f[:, 1] + 0.3 * rng.normal(size=n) > 0.5, rng.random(n) < 0.3], 1).astype(np.uint8)
    want = np.mean([slow_logme_column(f, y[:, j].astype(float)) for j in range(3)])
    assert LogMEScore().score_label_sets(f, y) == pytest.approx(want, rel=1e-6)
    # a label on for every example (or none) says nothing of the features: left out
    always = np.concatenate([y, np.ones((n, 1), np.uint8), np.zeros((n, 1), np.uint8)], axis=1)
    assert LogMEScore().score_label_sets(f, always) == pytest.approx(want, rel=1e-9)
    # features that carry the labels score higher than noise
    assert LogMEScore().score_label_sets(f, y) > LogMEScore().score_label_sets(rng.normal(size=(n, d)), y)


@pytest.mark.parametrize("name", ["leep", "nce", "hscore"])
def test_class_scores_refuse_label_sets_and_name_logme(name: str) -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((20, 3)) < 0.5).astype(np.uint8)
    with pytest.raises(ConfigError, match=f"The {name} score needs class labels.*label sets.*logme"):
        SCORES.build(name).score_label_sets(rng.normal(size=(20, 3)), y)


def test_logme_refuses_what_is_not_a_label_set() -> None:
    from transferkit.errors import DataError

    f = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(DataError, match="only 0 and 1.*row 0"):
        LogMEScore().score_label_sets(f, np.full((10, 2), 2))
    with pytest.raises(DataError, match="on for all examples or for none"):
        LogMEScore().score_label_sets(f, np.ones((10, 2)))


def _tags(path: Path, n: int = 240, shift: float = 0.0, seed: int = 0) -> str:
    """A table whose tags follow its columns: hot (a > 0.3), big (b > 0), red (a + b > 0.5);
    ``shift`` moves column b, the tags keep their rule (a covariate shift for adapt)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n) + shift
    c = rng.normal(size=n)
    tags = [";".join(t for t, on in (("hot", ai > 0.3), ("big", bi > 0), ("red", ai + bi > 0.5)) if on)
            for ai, bi in zip(a, b, strict=True)]
    pd.DataFrame({"a": a, "b": b, "c": c, "tags": tags}).to_csv(path, index=False)
    return str(path)


def test_rank_scores_label_sets_by_logme_and_probes_micro_f1(tmp_path: Path) -> None:
    csv = _tags(tmp_path / "t.csv")
    rows = tk.rank(csv, backbones=["tabular:8", "random:tabular:16"], label_column="tags",
                   label_separator=";", validate=True, cache_dir=str(tmp_path / "cache"))
    assert rows.task == "multilabel" and rows.probe_metric == "micro_f1"
    assert [list(r["scores"]) for r in rows] == [["logme"], ["logme"]]  # LEEP/NCE/H-score skipped
    assert all(np.isfinite(r["scores"]["logme"]) and r["source_probs"] is None for r in rows)
    # the tags are (near-)linear in the columns: the probe is far above the all-tags answer
    assert all(r["probe_val_micro_f1"] > 0.75 for r in rows)
    with pytest.raises(ConfigError, match="The leep score needs class labels.*label sets.*logme"):
        tk.rank(csv, backbones=["tabular:8"], scores="leep", label_column="tags", label_separator=";")


def test_rank_cli_reads_label_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from transferkit.cli import main

    csv = _tags(tmp_path / "t.csv", n=120)
    assert main(["rank", "--data", csv, "--label-column", "tags", "--label-separator", ";",
                 "--backbones", "tabular:8", "--cache-dir", str(tmp_path / "cache"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "multilabel" and list(out["rows"][0]["scores"]) == ["logme"]


def test_strategy_auto_ranks_backbones_and_climbs_on_validation_micro_f1(tmp_path: Path) -> None:
    run = tk.fit(data=_tags(tmp_path / "t.csv"), label_column="tags", label_separator=";",
                 backbones=["tabular:8", "random:tabular:16"], strategy="auto", epochs=2, time_budget="60s",
                 out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), log=None)
    s = run.summary
    assert s["task"] == "multilabel" and "validation micro_f1" in s["choice"]
    assert "linear-probe validation micro_f1" in s["choice"]  # the backbones were probed on it
    tried = s["auto"]["tried"]
    assert tried[0]["strategy"] == "linear-probe" and all("val_micro_f1" in t for t in tried)
    assert s["metrics"]["test"]["micro_f1"] > 0.75  # near-linear tags: the probe alone finds them
    manifest = (run.run_dir / "transferkit.json").read_text()
    assert '"thresholds"' in manifest  # chosen on validation, as fit does


def test_transfer_classifier_on_a_label_indicator_matrix(tmp_path: Path) -> None:
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, f1_score

    from transferkit.estimator import TransferClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    Y = np.stack([X[:, 0] > 0.3, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0.5], axis=1).astype(int)  # (N, 3)
    clf = TransferClassifier(backbone="tabular:16", strategy="linear-probe", val_fraction=0.25,
                             cache_dir=str(tmp_path / "cache"), run_dir=str(tmp_path / "run"))
    clf.fit(X[:200], Y[:200])
    assert clf.task_.name == "multilabel" and list(clf.classes_) == [0, 1, 2]
    proba = clf.predict_proba(X[200:])
    assert proba.shape == (100, 3) and ((proba >= 0) & (proba <= 1)).all()
    pred = clf.predict(X[200:])
    assert pred.shape == (100, 3) and set(np.unique(pred)) <= {0, 1}
    # thresholds chosen on the validation part, not all 0.5, and predict uses them
    assert clf.thresholds_.shape == (3,) and not np.allclose(clf.thresholds_, 0.5)
    np.testing.assert_array_equal(pred, (proba >= clf.thresholds_).astype(int))
    assert f1_score(Y[200:], pred, average="micro") > 0.8
    # score: scikit-learn's default for classifiers, the subset accuracy
    assert clf.score(X[200:], Y[200:]) == pytest.approx(accuracy_score(Y[200:], pred))
    # the run directory predicts the same label sets
    names = tk.load(tmp_path / "run").predict(pd.DataFrame(X[200:210], columns=[f"x{i}" for i in range(5)]))
    assert names == [[str(j) for j in np.flatnonzero(row)] for row in pred[:10]]
    # without a validation part every threshold is 0.5; one-label y still fits classes
    plain = clone(clf).set_params(val_fraction=0.0, run_dir=None).fit(X[:200], Y[:200])
    np.testing.assert_array_equal(plain.thresholds_, 0.5)
    assert clone(clf).set_params(run_dir=None).fit(X[:200], Y[:200, 0]).predict(X[:5]).shape == (5,)


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[dict, str, Path]:
    root = tmp_path_factory.mktemp("adapt-multilabel")
    source = {"data": _tags(root / "s.csv", n=200, seed=0), "label_column": "tags", "label_separator": ";"}
    return source, _tags(root / "t.csv", n=200, shift=1.0, seed=1), root


def test_adapt_coral_on_label_sets(domains) -> None:
    source, target, root = domains
    run = tk.adapt(source=source, target=target, method="coral", select="dev", backbone="tabular:8",
                   epochs=8, lr=0.01, out=str(root / "coral"), cache_dir=str(root / "cache"), log=None)
    s = run.summary
    assert s["task"] == "multilabel" and s["command"] == "adapt"
    assert {"micro_f1", "macro_f1", "map", "subset_accuracy"} <= set(s["metrics"]["test"])
    assert {"prior", "constant", "source_only"} <= set(s["baselines"])
    assert s["adapt"]["adaptation_gain"] == pytest.approx(
        s["metrics"]["test"]["micro_f1"] - s["baselines"]["source_only"]["test"]["micro_f1"])
    chosen = [c for c in s["selection"]["candidates"] if c["chosen"]]
    assert chosen and "source_val_micro_f1" in chosen[0]
    # thresholds chosen on the source validation split, kept by the run and used by predict
    assert s["metrics"]["test"]["thresholds_from"] == "validation"
    assert s["metrics"]["test"]["micro_f1"] > 0.7  # the tags' rule holds in both domains
    rows = pd.read_csv(target).drop(columns=["tags"]).head(20)
    pred = tk.load(run.run_dir).predict(rows)
    assert len(pred) == 20 and all(set(p) <= {"hot", "big", "red"} for p in pred)


@pytest.mark.parametrize("method", ["coral-transform", "importance"])
def test_adapt_shallow_methods_on_label_sets(domains, method: str) -> None:
    source, target, root = domains  # importance: weights on each source row's BCE
    run = tk.adapt(source=source, target=target, method=method, select="dev", backbone="tabular:8",
                   epochs=4, lr=0.01, out=str(root / method), cache_dir=str(root / "cache"), log=None)
    assert run.summary["task"] == "multilabel" and np.isfinite(run.summary["metrics"]["test"]["micro_f1"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "cdan", "select": "dev"}, "'cdan' method of adapt needs class probabilities.*label sets.*coral"),
    ({"method": "mcc", "select": "dev"}, "'mcc' method.*Methods that work for multilabel:.*mmd"),
    ({"method": "coral", "select": "snd"}, "'snd' validator.*Validators that work for multilabel: dev"),
])
def test_adapt_refuses_what_needs_one_class_per_example(domains, kwargs, message: str) -> None:
    source, target, root = domains
    with pytest.raises(ConfigError, match=message):
        tk.adapt(source=source, target=target, backbone="tabular:8", epochs=1,
                 out=str(root / "refused"), cache_dir=str(root / "cache"), log=None, **kwargs)


def test_pretrain_on_label_sets_then_fit_from_that_run(tmp_path: Path) -> None:
    """pretrain on a tagged source table, then fit the shifted target's tags from that run:
    the run is a backbone (its head dropped), the new run is multi-label end to end."""
    import json

    source = _tags(tmp_path / "s.csv", n=300, seed=0)
    target = _tags(tmp_path / "t.csv", n=200, shift=1.0, seed=1)
    pre = tk.pretrain(source, "tabular:16", tmp_path / "pre", epochs=15, lr=0.01, label_column="tags",
                      label_separator=";", log=None)
    assert pre.summary["task"] == "multilabel" and pre.summary["command"] == "pretrain"
    run = tk.fit(data=target, label_column="tags", label_separator=";", backbone=str(pre.run_dir),
                 strategy="linear-probe", compare=["scratch"], out=str(tmp_path / "fit"),
                 cache_dir=str(tmp_path / "cache"), log=None)
    s = run.summary
    assert s["task"] == "multilabel" and s["backbone"] == str(pre.run_dir)
    assert s["metrics"]["test"]["micro_f1"] > 0.7
    assert s["transfer_gain"] is not None  # micro-F1 against the scratch baseline
    manifest = json.loads((run.run_dir / "transferkit.json").read_text())
    assert manifest["classes"] == ["big", "hot", "red"] and len(manifest["thresholds"]) == 3
    pred = tk.load(run.run_dir).predict(pd.read_csv(target).drop(columns=["tags"]).head(5))
    assert len(pred) == 5 and all(isinstance(p, list) for p in pred)


def test_multilabel_example_loss_averages_to_the_objective() -> None:
    """The per-example BCE (mean over labels) that DEV and importance weights read: its mean
    over a batch is the training objective's BCE, pos_weight included."""
    import torch
    import torch.nn.functional as F

    from transferkit.data.dataset import TransferDataset
    from transferkit.tasks import get_task

    rng = np.random.default_rng(0)
    y = (rng.random((40, 3)) < [0.1, 0.5, 0.8]).astype(np.uint8)
    logits = torch.from_numpy(rng.normal(size=(40, 3)).astype(np.float32))
    for pos_weight in ("none", "auto"):
        task = get_task("multilabel", {"pos_weight": pos_weight})
        train = TransferDataset(name="t", modality="table", x=pd.DataFrame({"a": np.zeros(40)}), y=y,
                                classes=["a", "b", "c"], split="train")
        task.fit_targets(train)
        per = task.example_loss(logits, torch.from_numpy(y))
        assert per.shape == (40,)
        pw = None
        if pos_weight == "auto":
            pos = y.sum(0)
            pw = torch.tensor(np.clip((40 - pos) / pos, 1, 100), dtype=torch.float32)
        want = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(y).float(), pos_weight=pw)
        assert float(per.mean()) == pytest.approx(float(want), rel=1e-6)


def test_adapt_cli_reads_label_sets_in_both_domains(domains, capsys: pytest.CaptureFixture[str]) -> None:
    from transferkit.cli import main

    source, target, root = domains
    assert main(["adapt", "--source", source["data"], "--target", target, "--label-column", "tags",
                 "--label-separator", ";", "--method", "mmd", "--select", "dev", "--backbone", "tabular:8",
                 "--epochs", "2", "--out", str(root / "cli"), "--cache-dir", str(root / "cache")]) == 0
    out = capsys.readouterr().out
    assert "micro-F1" in out
    import json

    summary = json.loads((root / "cli" / "summary.json").read_text())
    assert summary["task"] == "multilabel" and summary["adapt"]["method"] == "mmd"


def test_adapt_end_to_end_with_labelled_target_rows(domains) -> None:
    """strategy full: raw multi-hot rows through the backbone's collate; target shots: rows
    until every label has K positives."""
    source, target, root = domains
    run = tk.adapt(source=source, target={"data": target, "shots": 3}, method="coral", select="dev",
                   strategy="full", backbone="tabular:8", epochs=2, lr=0.01, out=str(root / "e2e"),
                   cache_dir=str(root / "cache"), log=None)
    s = run.summary
    assert s["task"] == "multilabel" and s["adapt"]["mode"] == "end-to-end"
    assert s["labels_used"]["target"] >= 1 and np.isfinite(s["metrics"]["test"]["micro_f1"])
    from transferkit.jobs.adapt.config import resolve_adapt_config
    from transferkit.jobs.adapt.data import load_data

    data = load_data(resolve_adapt_config(None, (), source=source, target={"data": target, "shots": 3}), print)
    assert len(data.shot_idx) == s["labels_used"]["target"]
    assert (data.target_train.y[data.shot_idx].sum(0) >= 3).all()  # K positives of every label
