"""Which training steps run on one intra-op thread (transferkit._threads.small_dense_step)."""

from __future__ import annotations

from torch import nn

import transferkit as tk
from transferkit._threads import SMALL_STEP_MACS, small_dense_step


def test_a_small_mlp_step_is_small_and_convolutions_or_big_batches_are_not() -> None:
    mlp = nn.Sequential(nn.Linear(175, 128), nn.ReLU(), nn.LayerNorm(128), nn.Linear(128, 3))
    macs = 175 * 128 + 128 * 3  # weights of the Linear layers; the norm does no matmul
    assert small_dense_step(mlp, 32)
    assert small_dense_step(mlp, SMALL_STEP_MACS // macs)
    assert not small_dense_step(mlp, SMALL_STEP_MACS // macs + 1)
    assert not small_dense_step(nn.Sequential(nn.Conv1d(1, 4, 3), nn.Flatten(), nn.Linear(8, 2)), 1)
    assert small_dense_step(nn.ReLU(), 10**9)  # nothing to compute


def test_a_tabular_mlp_trains_end_to_end_on_one_thread(tmp_path, trainer_threads) -> None:
    seen = trainer_threads(lambda: tk.fit(
        data="breast-cancer-wdbc", backbone="tabular", strategy="full", epochs=1,
        out=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"), log=None))
    assert seen == [1]
