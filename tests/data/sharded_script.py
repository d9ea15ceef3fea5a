"""Run by test_sharded.py as ``accelerate launch --multi_gpu --num_processes 2 sharded_script.py
ROOT CACHE OUT``: the check pass and the extraction, each process on its slice.

Each process writes OUT.rank<i>: how many files it decoded in the check pass, the number of
processes, and its features (as a list) of the image folder at ROOT (cache dir CACHE).
"""

from __future__ import annotations

import json
import sys

import torch

from transferkit.backbones.timm_models import TimmBackbone
from transferkit.data import file_check
from transferkit.data.decode import read_image
from transferkit.data.images import load_image_folder
from transferkit.features import extract_features


def main(root: str, cache: str, out: str, shot: str) -> None:
    torch.set_num_threads(1)
    file_check._QUIESCENT_S = 0.0  # the test's files were written a moment ago
    decoded: list[str] = []

    def counting(path: str, max_pixels: int | None = None):  # type: ignore[no-untyped-def]
        decoded.append(path)
        return read_image(path, max_pixels)

    file_check.read_image = counting  # type: ignore[assignment]
    data = load_image_folder(root, skip_bad=True, cache_dir=cache)
    torch.manual_seed(0)
    bb = TimmBackbone("mobilenetv3_small_050", image_size=32).eval()
    feats = extract_features(bb, data, cache_dir=cache, backend="torch", batch_size=4, progress=False)
    acts = extract_features(bb, data, cache_dir=cache, backend="torch", batch_size=4, progress=False,
                            upto_block=1)
    from transferkit._dist import process_state

    state = process_state()
    rank, world = (state.process_index, state.num_processes) if state is not None else (0, 1)
    with open(f"{out}.{shot}.rank{rank}", "w") as f:
        json.dump({"world": world, "decoded": len(decoded), "n": len(data), "skipped": data.skipped,
                   "features": feats.tolist(), "acts_sum": float(acts.sum()), "acts_shape": list(acts.shape),
                   "ids": data.ids}, f)


if __name__ == "__main__":
    main(*sys.argv[1:5])
