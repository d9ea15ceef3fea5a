"""The "Extending transferkit" examples (docs/extending.md), each run as the one file it says it is.

Each example is executed as the module it names (``transferkit/tasks/focal_classification.py``
-> ``transferkit.tasks.focal_classification``), used through the public API, and removed from
its registry afterwards, so the README cannot drift from the code.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import transferkit as tk

README = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def _examples() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("# Extending transferkit", 1)[1]
    found = re.findall(r"\*\*An? [^*]+\*\* — `(transferkit/[\w/]+\.py)`.*?```python\n(.*?)```", section,
                       flags=re.S)
    return {path: code for path, code in found}


EXAMPLES = _examples()


@pytest.fixture
def install():
    """Run an example as the module its path names; unregister it afterwards."""
    from transferkit.alignment import ALIGNMENTS
    from transferkit.backbones import BACKBONES
    from transferkit.ranking import SCORES
    from transferkit.strategies import STRATEGIES
    from transferkit.tasks import TASKS

    registries = (ALIGNMENTS, BACKBONES, SCORES, STRATEGIES, TASKS)
    for r in registries:
        r.names()  # discover the shipped entries first
    before = {id(r): set(r._entries) for r in registries}
    added: list[str] = []

    def run(path: str) -> types.ModuleType:
        name = path[:-3].replace("/", ".")
        module = types.ModuleType(name)
        module.__file__ = path
        sys.modules[name] = module
        added.append(name)
        exec(compile(EXAMPLES[path], path, "exec"), module.__dict__)
        return module

    yield run
    for r in registries:
        for key in set(r._entries) - before[id(r)]:
            del r._entries[key]
    for name in added:
        sys.modules.pop(name, None)


def _series(path: Path, n: int = 60, seed: int = 0) -> str:
    """A two-class (T=20, C=2) series set: class 1 is shifted up and noisier."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 20, 2)).astype(np.float32) * (1 + y[:, None, None]) + y[:, None, None]
    np.savez(path, x=x, y=y)
    return str(path)


def test_every_extension_point_has_an_example():
    folders = {p.split("/")[1] for p in EXAMPLES}
    assert folders == {"strategies", "alignment", "ranking", "tasks", "backbones"}


def test_strategy_example_trains_only_norm_layers(install, tmp_path):
    install("transferkit/strategies/norm.py")
    run = tk.fit(data=_series(tmp_path / "s.npz"), backbone="sequence:cnn", strategy="norm",
                 epochs=2, out=str(tmp_path / "run"), log=None, cache_dir=str(tmp_path / "c"))
    assert run.summary["strategy"] == "norm"
    bb = run.model.backbone
    fresh = tk.load(run.run_dir).model.backbone  # the saved weights
    conv, bn = bb.convs[0][0], bb.convs[0][1]
    assert torch.equal(conv.weight, fresh.convs[0][0].weight)
    assert not torch.equal(bn.weight, torch.ones_like(bn.weight))  # the norm layer trained
    from transferkit.errors import ConfigError
    from transferkit.strategies import STRATEGIES

    with pytest.raises(ConfigError, match="lr_ratio"):
        STRATEGIES.build("norm", {"lr_ratio": 0})


def test_alignment_example_matches_its_formula(install):
    install("transferkit/alignment/mean_match.py")
    from transferkit.alignment import ALIGNMENTS

    loss = ALIGNMENTS.build("mean-match", {"weight": 1.0}, feature_dim=3, num_classes=2)
    f_s, f_t = torch.randn(5, 3), torch.randn(7, 3) + 2
    expected = ((f_s.mean(0) - f_t.mean(0)) ** 2).sum()
    assert torch.allclose(loss.loss(f_s, f_t), expected)


def test_score_example_ranks_separable_features_higher(install):
    install("transferkit/ranking/fisher.py")
    from transferkit.ranking import SCORES

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    good = rng.normal(size=(300, 8)) + 3 * np.eye(8)[y]
    bad = rng.normal(size=(300, 8))
    score = SCORES.build("fisher")
    assert score.score(good, y) > 5 * score.score(bad, y)


def test_task_example_fits_loads_and_predicts(install, tmp_path):
    install("transferkit/tasks/focal_classification.py")
    run = tk.fit(data="breast-cancer-wdbc", backbone="tabular:16", strategy="full",
                 task="focal-classification", epochs=30, lr=0.01, out=str(tmp_path / "run"),
                 log=None)
    assert run.summary["task"] == "focal-classification"
    assert run.summary["metrics"]["test"]["balanced_accuracy"] > 0.8
    model = tk.load(run.run_dir)
    assert model.task.name == "focal-classification"
    rows = tk.data.load("breast-cancer-wdbc", split="test").x.head(3)
    assert len(model.predict(rows)) == 3


def test_backbone_family_example_is_a_frozen_feature_extractor(install, tmp_path):
    install("transferkit/backbones/stats.py")
    from transferkit.backbones import from_description

    run = tk.fit(data=_series(tmp_path / "s.npz", n=200), backbone="stats", strategy="linear-probe",
                 lr=0.01, overrides=["train.patience=null"], out=str(tmp_path / "run"), log=None,
                 cache_dir=str(tmp_path / "c"))
    # mean and std separate the classes (logistic regression on these features: 100 %); the
    # SGD head on cached features gets most of the way (see the honest-defaults issue)
    assert run.summary["metrics"]["test"]["balanced_accuracy"] > 0.7
    bb = run.model.backbone
    assert bb.feature_dim == 8 and from_description(bb.describe()).channels == 2
    model = tk.load(run.run_dir)
    x = np.load(tmp_path / "s.npz")["x"][:4]
    assert model.predict_proba(list(x)).shape == (4, 2)
