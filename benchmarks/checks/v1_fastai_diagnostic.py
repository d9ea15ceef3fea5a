"""V1 check: why fastai's ``fine_tune(10)`` peer is at chance on 10 labels per class.

Runs the V1 fastai peer's recipe (benchmarks/v1_fewshot_image.py, ``peer_fastai``: a
``Learner`` on the same timm model with the packaged weights, batch 32, ``fine_tune(10)``)
on seed 0's 10/class sample and prints fastai's per-epoch (train, valid) losses, the train
and test accuracy and the test predictions' class counts (the first 500 test images).

    python benchmarks/checks/v1_fastai_diagnostic.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import fastai.callback.progress  # noqa: F401  (adds Learner.no_bar)
    import fastai.callback.schedule  # noqa: F401  (adds Learner.fine_tune)
    import torch
    import v1_fewshot_image as v1
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.torch_core import set_seed

    from transferkit.data.splits import sample_shots

    torch.set_num_threads(2)
    y_file = v1.read_idx(v1.FMNIST / "train-labels-idx1-ubyte.gz")
    x_tr, y_tr, x_te, y_te = v1.peer_data(sample_shots(y_file, 10, 0), 500)
    set_seed(0)
    model = v1.timm_lite0(True, 10)
    xt, yt = v1.to_tensor(x_tr), torch.from_numpy(y_tr)
    train = list(zip(xt, yt, strict=True))
    dls = DataLoaders.from_dsets(train, train, bs=32, device=torch.device("cpu"))

    def splitter(m: Any) -> list[list[Any]]:
        head = list(m.get_classifier().parameters())
        ids = {id(q) for q in head}
        return [[q for q in m.parameters() if id(q) not in ids], head]

    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), splitter=splitter)
    t0 = time.perf_counter()
    with learn.no_bar():
        learn.fine_tune(10)
    print(f"fine_tune(10): {time.perf_counter() - t0:.0f} s; DataLoader workers {dls.train.num_workers}")
    print("per-epoch (train loss, valid loss):", [[round(float(x), 3) for x in r[:2]] for r in learn.recorder.values])
    model.eval()
    with torch.inference_mode():
        pred = model(v1.to_tensor(x_te)).argmax(1).numpy()
        pred_tr = model(xt).argmax(1).numpy()
    print(f"test accuracy {(pred == y_te).mean():.3f}, train accuracy {(pred_tr == y_tr).mean():.3f}, "
          f"test predictions per class {np.bincount(pred, minlength=10).tolist()}")


if __name__ == "__main__":
    main()
