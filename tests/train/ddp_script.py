"""Run by test_ddp.py as ``accelerate launch --multi_gpu --num_processes N ddp_script.py OUT``.

Trains the tiny MLP on Gaussian blobs with the full strategy through the one Trainer and
writes (one file per process, OUT.rank<i>) the test accuracy, the world size and a weight checksum.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_models import blobs, tiny_model  # noqa: E402

from transferkit.config import TrainConfig  # noqa: E402
from transferkit.strategies import create_strategy  # noqa: E402
from transferkit.train import Trainer  # noqa: E402


def main(out: str) -> None:
    torch.set_num_threads(1)
    model = tiny_model(seed=0)
    config = TrainConfig(epochs=8, batch_size=16, lr=1e-2, patience=None)
    stage = create_strategy("full").stages(model, config)[0]
    trainer = Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=192),
                      val_data=blobs(n=96, seed=1), stage="ddp", log=None, progress=False)
    result = trainer.fit()
    test = trainer.evaluate(blobs(n=192, seed=2))
    # One file per process: every process must end with the same weights.
    Path(f"{out}.rank{trainer.rank}").write_text(json.dumps({
        "world_size": trainer.world, "test_accuracy": test["accuracy"], "steps": result.steps,
        "checksum": float(sum(p.detach().double().sum() for p in model.parameters())),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
