"""X1 -- feature-extraction throughput (BENCHMARKS.md).

End-to-end extraction from a folder of PNG files (decoding and preprocessing included)
vs the bare EfficientNet-Lite0 forward pass on pre-made tensors in its best
configuration (NCHW / channels_last / onnxruntime), at 64 and 224 px, batch 64; plus
the feature cache's hit time vs recomputation. All in one run on 2 threads.

    python benchmarks/extract.py --n 1000
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def write_pngs(root: Path, n: int) -> str:
    from PIL import Image

    from transferkit.data.idx import read_idx

    fm = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    if fm.is_file():
        x, name = read_idx(fm)[:n], "Fashion-MNIST"
        y = read_idx(fm.with_name("t10k-labels-idx1-ubyte.gz"))[:n]
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, name = (d.images[:n] * 255 / 16).astype(np.uint8), d.target[:n], "digits"
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return f"{len(x)} {name} PNGs"


def rate(model, x: torch.Tensor, n_batches: int) -> float:
    """Images per second of ``model(x)`` repeated ``n_batches`` times."""
    t = time.perf_counter()
    for _ in range(n_batches):
        model(x)
    return n_batches * len(x) / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="Number of PNG files.")
    parser.add_argument("--sizes", default="64,224", help="Input resolutions.")
    parser.add_argument("--out", default="benchmarks/results/extract.md")
    args = parser.parse_args()
    torch.set_num_threads(2)

    from transferkit.backbones import create_backbone
    from transferkit.data.images import load_image_folder
    from transferkit.features import FeatureCache, _OnnxRunner, extract_features

    work = Path(tempfile.mkdtemp(prefix="tk-x1-"))
    what = write_pngs(work / "pngs", args.n)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        bb = create_backbone("efficientnet_lite0", image_size=size).eval()
        batch = torch.randn(64, 3, size, size)
        n_batches = max(1, args.n // 64)
        bare = {}
        with torch.inference_mode():
            bb(batch[:2])
            bare["torch NCHW"] = rate(bb, batch, n_batches)
            cl = batch.contiguous(memory_format=torch.channels_last)
            bare["torch channels_last"] = rate(bb, cl, n_batches)
        runner = _OnnxRunner(bb, batch[:8], FeatureCache(work / "cache"), f"bench{size}", 2)
        runner(batch)
        bare["onnxruntime"] = rate(runner, batch, n_batches)
        best_name = max(bare, key=bare.get)

        cache = work / f"cache{size}"
        t = time.perf_counter()
        data = load_image_folder(work / "pngs")
        extract_features(bb, data, cache_dir=cache, batch_size=64, progress=False)
        e2e_s = time.perf_counter() - t
        e2e = len(data) / e2e_s
        t = time.perf_counter()
        data2 = load_image_folder(work / "pngs")
        extract_features(bb, data2, cache_dir=cache, batch_size=64, progress=False)
        hit_s = time.perf_counter() - t
        t = time.perf_counter()
        extract_features(bb, data2, cache_dir=cache, batch_size=64, progress=False)
        hit_only_s = time.perf_counter() - t
        rows.append((size, bare, best_name, e2e, e2e_s, hit_s, hit_only_s))
        print(size, bare, e2e, e2e_s, hit_s, hit_only_s, flush=True)
        # written after each size, so a partial run still leaves its table
        lines = [
            "## X1 -- feature extraction throughput (EfficientNet-Lite0, batch 64, 2 threads)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
            f"torch {torch.__version__}. Data: {what}. Command: `python benchmarks/extract.py --n {args.n}`.",
            "",
            "| px | bare NCHW img/s | bare channels_last img/s | bare onnxruntime img/s | transferkit end-to-end "
            "img/s (PNG decode + preprocess + forward) | ratio to best bare | cache hit incl. folder load (s) "
            "| cache hit alone (s) | recompute (s) | speed-up of a hit |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for px, b, best, rate_e2e, t_e2e, t_hit, t_hit_only in rows:
            lines.append(
                f"| {px} | {b['torch NCHW']:.0f} | {b['torch channels_last']:.0f} | {b['onnxruntime']:.0f} "
                f"| {rate_e2e:.0f} | {rate_e2e / b[best]:.2f}x of {best} | {t_hit:.3f} | {t_hit_only:.3f} "
                f"| {t_e2e:.2f} | {t_e2e / t_hit_only:.0f}x |")
        lines += ["", "End-to-end includes the ONNX export (once per size, then cached) and its check against "
                  "torch. The machine is shared: compare ratios from one run, not absolute rates."]
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
