"""The token task's default strategy: the probe below PARTIAL_FROM training sentences,
partial on the encoder's top layers from there, with the label budget of the strategy kept
(a carve of the shots for early stopping)."""

import pytest

from transferkit.config import FitConfig, from_dict
from transferkit.pipeline.fitting import budgeted_splits
from transferkit.tasks import get_task
from transferkit.tasks import tokens as tokens_mod
from transferkit.tasks.tokens import write_tiny_conll


def test_rule_by_number_of_training_sentences():
    task = get_task("token-classification")
    n = tokens_mod.PARTIAL_FROM
    assert task.default_strategy("linear-probe", n - 1) is None
    name, params, why = task.default_strategy("linear-probe", n)
    assert name == "partial" and params == {"blocks": tokens_mod.PARTIAL_BLOCKS} and str(n) in why
    assert task.default_strategy("full", 10 * n) is None  # only the pretrained encoder's probe is replaced
    assert get_task("classification").default_strategy("linear-probe", 10 * n) is None


@pytest.mark.parametrize("shots, strategy, val", [(30, "partial", 6), (10, "linear-probe", 0)])
def test_fit_switches_strategy_and_budget_with_the_shots(tmp_path, monkeypatch, shots, strategy, val):
    monkeypatch.setattr(tokens_mod, "PARTIAL_FROM", 20)
    path = tmp_path / "ner.conll"
    write_tiny_conll(path, n=120)
    cfg = from_dict(FitConfig, {"data": {"data": str(path), "shots": shots}, "backbone": {"name": "minilm"},
                                "task": "token-classification", "strategy": "linear-probe"})
    lines: list[str] = []
    got, splits, task, choice = budgeted_splits(cfg, lines.append, "strategy 'linear-probe' by default")
    assert got.strategy == strategy and task.name == "token-classification"
    assert len(splits.train) + len(splits.val) == shots and len(splits.val) == val  # the carve: 20 %
    assert ("for this task and data" in choice) == (strategy == "partial")
    # named explicitly (no default's choice): never replaced
    kept, *_ = budgeted_splits(cfg, lines.append, None)
    assert kept.strategy == "linear-probe"
