"""The demo's runs are valid fit configurations (the demo itself takes minutes: not run here)."""

import pytest

from transferkit.cli.demo import DEMO_RUNS
from transferkit.jobs.fit import resolve_config
from transferkit.strategies import STRATEGIES


@pytest.mark.parametrize(("title", "kwargs"), DEMO_RUNS, ids=[t for t, _ in DEMO_RUNS])
def test_every_demo_run_resolves_to_a_valid_config(title, kwargs):
    cfg = resolve_config(None, (), **kwargs)
    assert cfg.data.data == kwargs["data"] and cfg.strategy == kwargs["strategy"]
    entry = STRATEGIES.entry(cfg.strategy)
    if entry.config is not None:  # strategy parameters are checked by their config class
        from transferkit.options import from_dict

        from_dict(entry.config, dict(cfg.strategy_params), "strategy_params")
