"""Resuming a finished stage with more epochs extends it (issue 24, H2): it continues from
the final weights and optimizer state with a new schedule that starts at the rate the
finished one ended at; an extension cut short resumes exactly; what cannot be continued is
refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from tiny_models import blobs, tiny_model

from transferkit.config import TrainConfig
from transferkit.errors import RunDirError
from transferkit.strategies import create_strategy
from transferkit.train import Callback, Trainer, list_checkpoints, lr_factor
from transferkit.train.schedule import continued_factor

#: 100 examples in batches of 16: 7 steps per epoch
STEPS_PER_EPOCH = 7


def _trainer(run_dir: Path, epochs: int, resume: bool = False, extend: bool = True,
             callbacks: tuple = ()) -> tuple[torch.nn.Module, Trainer]:
    model = tiny_model(dropout=0.2)
    config = TrainConfig(epochs=epochs, batch_size=16, checkpoint_every=3, patience=None)
    (stage,) = create_strategy("full").stages(model, config)
    return model, Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=100),
                          val_data=blobs(n=30, seed=1), run_dir=run_dir, resume=resume, log=None,
                          extend=extend, callbacks=callbacks)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A stage trained for 2 epochs (14 steps) and its final weights."""
    run = tmp_path_factory.mktemp("extend") / "run"
    model, trainer = _trainer(run, epochs=2)
    trainer.fit()
    return {"run": run, "state": {k: v.clone() for k, v in model.state_dict().items()}}


def _copy(finished: dict, tmp_path: Path, name: str = "run") -> Path:
    run = tmp_path / name
    shutil.copytree(finished["run"], run)
    return run


def test_continued_schedule_starts_at_the_given_rate_and_decays() -> None:
    f = continued_factor("cosine", 10, 0.3)
    assert f(0) == pytest.approx(0.3) and f(5) == pytest.approx(0.15) and f(10) == pytest.approx(0.0)
    values = [f(s) for s in range(11)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert [continued_factor("constant", 10, 1.0)(s) for s in (0, 9)] == [1.0, 1.0]
    assert continued_factor("onecycle", 10, 0.2)(10) < 0.001 and continued_factor("onecycle", 10, 0.2)(0) == 0.2


def test_more_epochs_continue_a_finished_stage_from_its_last_rate(finished: dict, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path)
    model, trainer = _trainer(run, epochs=4, resume=True)
    result = trainer.fit()
    done = 2 * STEPS_PER_EPOCH
    assert result.resumed_from == done and result.steps == 2 * done and result.stopped == "completed"
    start = lr_factor("cosine", done, TrainConfig().warmup)(done - 1)  # the last step's multiplier
    assert trainer.extension["from_step"] == done and trainer.extension["start"] == pytest.approx(start)
    assert trainer.extension["lr_start"]["head"] == pytest.approx(TrainConfig().lr * start)
    assert [r["step"] for r in result.history] == [7, 14, 21, 28]  # the finished run's, then more
    assert result.history[2]["lr"]["head"] < trainer.extension["lr_start"]["head"]  # decaying
    assert any(not torch.equal(v, finished["state"][k]) for k, v in model.state_dict().items())
    (last,) = list_checkpoints(run / "checkpoints" / "main")
    assert last.name == f"step-{2 * done:09d}-final"


def test_an_extension_cut_short_resumes_to_the_same_weights(finished: dict, tmp_path: Path) -> None:
    reference, trainer = _trainer(_copy(finished, tmp_path, "ref"), epochs=4, resume=True)
    trainer.fit()

    class Crash(Callback):
        def on_step_end(self, trainer: Trainer, step: int, logs: dict) -> None:
            if step == 20:  # after the extension's checkpoint at step 18
                raise RuntimeError("killed")

    run = _copy(finished, tmp_path)
    _, trainer = _trainer(run, epochs=4, resume=True, callbacks=(Crash(),))
    with pytest.raises(RuntimeError, match="killed"):
        trainer.fit()
    model, trainer = _trainer(run, epochs=4, resume=True)
    assert trainer.fit().resumed_from == 18
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_stage_that_later_stages_started_from_is_not_extended(finished: dict, tmp_path: Path) -> None:
    _, trainer = _trainer(_copy(finished, tmp_path), epochs=4, resume=True, extend=False)
    with pytest.raises(RunDirError, match="only a strategy's last stage can train longer"):
        trainer.fit()


def test_a_stage_ended_by_early_stopping_is_not_extended(finished: dict, tmp_path: Path) -> None:
    run = _copy(finished, tmp_path)
    (last,) = list_checkpoints(run / "checkpoints" / "main")
    state = json.loads((last / "state.json").read_text())
    state["result"]["stopped"] = "early_stopping"
    (last / "state.json").write_text(json.dumps(state))
    _, trainer = _trainer(run, epochs=4, resume=True)
    with pytest.raises(RunDirError, match="ended by early_stopping .* would not train it further"):
        trainer.fit()
