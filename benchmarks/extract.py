"""X1 -- feature-extraction throughput (BENCHMARKS.md).

End-to-end extraction from a folder of PNG files (decoding and preprocessing included)
vs the bare EfficientNet-Lite0 forward pass on pre-made tensors in its best
configuration (torch NCHW / channels_last / onnxruntime with and without spinning
threads), at 64 and 224 px, batch 64, 2 threads; plus the feature cache's hit time vs
recomputation. Every figure of a repeat comes from the same process, interleaved.

    python benchmarks/extract.py --seeds 3            # 1000 PNGs, 64 and 224 px
    python benchmarks/extract.py --quick              # 256 PNGs, 64 px, one repeat

End-to-end runs, each timed from the folder of PNGs to the feature array:
  first run  -- empty cache: ONNX export + check against torch + session + extraction;
  warm run   -- the ONNX file is in the cache (as for any later process): session creation
                + extraction, feature entry written;
  in-process -- a second extraction in the same process (session kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

THREADS = 2
BATCH = 64


def write_pngs(root: Path, n: int) -> str:
    from PIL import Image

    from transferkit.data.idx import read_idx

    fm = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    if fm.is_file():
        x, name = read_idx(fm)[:n], "Fashion-MNIST (28x28 grey)"
        y = read_idx(fm.with_name("t10k-labels-idx1-ubyte.gz"))[:n]
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, name = (d.images[:n] * 255 / 16).astype(np.uint8), d.target[:n], "digits (8x8 grey)"
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return f"{len(x)} {name} PNG files"


def machine() -> dict[str, str]:
    cpu = _common.cpu_model()
    import onnxruntime
    import PIL
    import timm

    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores, {THREADS} threads used",
        "versions": f"Python {platform.python_version()}, torch {torch.__version__}, onnxruntime "
                    f"{onnxruntime.__version__}, timm {timm.__version__}, numpy {np.__version__}, "
                    f"Pillow {PIL.__version__}",
    }


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def rate(fn, x, n_batches: int) -> float:
    """Images per second of ``fn(x)`` repeated ``n_batches`` times (after one warm-up call)."""
    fn(x)
    t = time.perf_counter()
    for _ in range(n_batches):
        fn(x)
    return n_batches * len(x) / (time.perf_counter() - t)


def bare_rates(bb, size: int, n: int, work: Path, torch_batches: int) -> dict[str, float]:
    """The bare model on a pre-made batch, in each configuration."""
    from transferkit.features import export_onnx, ort_session

    x = torch.randn(BATCH, 3, size, size)
    out: dict[str, float] = {}
    with torch.inference_mode():
        out["torch NCHW"] = rate(bb, x, torch_batches)
        out["torch channels_last"] = rate(bb, x.contiguous(memory_format=torch.channels_last), torch_batches)
    path = work / f"bare{size}.onnx"
    if not path.is_file():
        export_onnx(bb, x[:8], path)
    xn = x.numpy()
    n_batches = max(1, n // BATCH)
    for spin in (True, False):
        sess = ort_session(path, THREADS, spinning=spin)
        out[f"onnxruntime{' (spinning)' if spin else ''}"] = rate(lambda a, s=sess: s.run(None, {"x": a}), xn,
                                                                 n_batches)
    return out


def end_to_end(bb, folder: Path, cache: Path) -> tuple[float, np.ndarray]:
    from transferkit.data.images import load_image_folder
    from transferkit.features import extract_features

    t = time.perf_counter()
    data = load_image_folder(folder)
    feats = extract_features(bb, data, cache_dir=cache, batch_size=BATCH, progress=False)
    return time.perf_counter() - t, feats


def one_repeat(size: int, n: int, work: Path, torch_batches: int) -> dict[str, float]:
    import transferkit.features as tkf
    from transferkit.backbones import create_backbone
    from transferkit.data.images import load_image_folder
    from transferkit.features import FeatureCache, extract_features

    bb = create_backbone("efficientnet_lite0", image_size=size).eval()
    folder = work / "pngs"
    r: dict[str, float] = {f"bare {k}": v for k, v in bare_rates(bb, size, n, work, torch_batches).items()}

    cache = work / f"cache{size}"
    shutil.rmtree(cache, ignore_errors=True)
    tkf.forget_sessions()
    r["first run s"], ref = end_to_end(bb, folder, cache)

    shutil.rmtree(cache / "features")  # keep the ONNX file, drop the features
    tkf.forget_sessions()
    r["warm run s"], feats = end_to_end(bb, folder, cache)
    assert np.allclose(feats, ref, atol=1e-5)

    shutil.rmtree(cache / "features")
    r["in-process run s"], _ = end_to_end(bb, folder, cache)

    data = load_image_folder(folder)
    data.content_hash()
    hit = extract_features(bb, data, cache_dir=cache, batch_size=BATCH, progress=False)
    assert isinstance(hit, np.memmap) and np.allclose(hit, ref, atol=1e-5)

    def timed_hit(forget: bool) -> float:
        if forget:  # as the first hit in a process: the entry's CRC-32 is read
            FeatureCache(cache).forget_checks()
        t = time.perf_counter()
        extract_features(bb, data, cache_dir=cache, batch_size=BATCH, progress=False)
        return time.perf_counter() - t

    # medians of 5: single calls of a few ms are at the mercy of the scheduler on a busy machine
    r["hit s"] = statistics.median(timed_hit(True) for _ in range(5))
    time.sleep(1.1)  # let the entry age past the quiescence window so that a check is remembered
    timed_hit(True)
    r["repeat hit s"] = statistics.median(timed_hit(False) for _ in range(5))
    t = time.perf_counter()
    data2 = load_image_folder(folder)
    extract_features(bb, data2, cache_dir=cache, batch_size=BATCH, progress=False)
    r["hit incl. folder load s"] = time.perf_counter() - t
    t = time.perf_counter()
    extract_features(bb, data, cache_dir=cache, batch_size=BATCH, progress=False, use_cache=False)
    r["recompute s"] = time.perf_counter() - t
    return r


def fmt(values: list[float], digits: int = 0) -> str:
    m = statistics.fmean(values)
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(rows: dict[int, list[dict[str, float]]], n: int, meta: dict[str, str], what: str, command: str,
          loads: list[str]) -> str:
    lines = [
        "## X1 -- feature extraction throughput (EfficientNet-Lite0, batch 64, 2 threads)",
        "",
        f"- Machine: {meta['cpu']}",
        f"- Versions: {meta['versions']}",
        f"- Data: {what}; command: `{command}`",
        *[f"- Load: {u}" for u in loads],
        "",
        "Bare forward on a pre-made float batch (img/s); torch configurations timed on a few batches.",
        "",
        "| px | torch NCHW | torch channels_last | onnxruntime | onnxruntime (spinning) | best |",
        "|---|---|---|---|---|---|",
    ]
    bare_keys = ["bare torch NCHW", "bare torch channels_last", "bare onnxruntime", "bare onnxruntime (spinning)"]
    for px, reps in rows.items():
        best = [max(r[k] for k in bare_keys) for r in reps]
        lines.append(f"| {px} | " + " | ".join(fmt([r[k] for r in reps]) for k in bare_keys)
                     + f" | {fmt(best)} |")
    lines += [
        "",
        f"transferkit end to end, {n} PNG files -> features (decode + preprocess + forward + cache write), "
        "img/s and ratio to the best bare forward of the same repeat:",
        "",
        "| px | first run (ONNX export + check) | warm run (ONNX file cached, new session) | ratio | "
        "in-process run | ratio | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for px, reps in rows.items():
        best = [max(r[k] for k in bare_keys) for r in reps]
        rates = {k: [n / r[f"{k} s"] for r in reps] for k in ("first run", "warm run", "in-process run")}
        ratio = {k: [v / b for v, b in zip(rates[k], best, strict=True)] for k in rates}
        lines.append(f"| {px} | {fmt(rates['first run'])} | {fmt(rates['warm run'])} | "
                     f"{fmt(ratio['warm run'], 2)}x | {fmt(rates['in-process run'])} | "
                     f"{fmt(ratio['in-process run'], 2)}x | >= 0.9x |")
    lines += [
        "",
        "Feature cache: a hit vs recomputing the same features (same process, ONNX session warm):",
        "",
        "| px | recompute (s) | hit, first in process: CRC-32 checked (ms, median of 5) | speed-up | repeated hit (ms) "
        "| speed-up | hit incl. loading the PNG folder (s) | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for px, reps in rows.items():
        rec = [r["recompute s"] for r in reps]
        lines.append(
            f"| {px} | {fmt(rec, 2)} | {fmt([1e3 * r['hit s'] for r in reps], 1)} | "
            f"{fmt([r['recompute s'] / r['hit s'] for r in reps])}x | {fmt([1e3 * r['repeat hit s'] for r in reps], 1)}"
            f" | {fmt([r['recompute s'] / r['repeat hit s'] for r in reps])}x | "
            f"{fmt([r['hit incl. folder load s'] for r in reps], 2)} | >= 100x |")
    lines += ["", "Per repeat (seconds unless img/s):", ""]
    for px, reps in rows.items():
        for i, r in enumerate(reps):
            lines.append(f"- {px} px, repeat {i}: " + ", ".join(f"{k} {v:.4g}" for k, v in r.items()))
    lines += ["", "The machine may be shared: compare ratios within one repeat, not absolute rates "
              "across runs. 'first run' includes the one-time ONNX export and its check against torch; "
              "later processes reuse the exported file (verified by its recorded CRC-32)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="Number of PNG files.")
    parser.add_argument("--sizes", default="64,224", help="Input resolutions, comma-separated.")
    parser.add_argument("--seeds", type=int, default=1, help="Repeats of the whole measurement.")
    parser.add_argument("--torch-batches", type=int, default=4, help="Batches timed per bare torch config.")
    parser.add_argument("--quick", action="store_true", help="256 files, 64 px, one repeat.")
    parser.add_argument("--out", default="benchmarks/results/extract.md")
    args = parser.parse_args()
    if args.quick:
        args.n, args.sizes, args.seeds, args.torch_batches = 256, "64", 1, 2
    torch.set_num_threads(THREADS)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    command = "python " + " ".join([sys.argv[0], *sys.argv[1:]])

    meta = machine()
    work = Path(tempfile.mkdtemp(prefix="tk-x1-"))
    loads = [f"before: {uptime()}"]
    what = write_pngs(work / "pngs", args.n)
    rows: dict[int, list[dict[str, float]]] = {}
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            rows[size] = []
            for seed in range(args.seeds):
                r = one_repeat(size, args.n, work, args.torch_batches)
                rows[size].append(r)
                print(f"{size} px repeat {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in r.items()), flush=True)
                # written after each repeat, so a partial run still leaves its table
                text = table(rows, args.n, meta, what, command, [*loads, f"now: {uptime()}"])
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(text)
        print(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
