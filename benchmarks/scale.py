"""Scale -- an image folder indexed and checked, then extracted batch by batch (issue #25).

A generated folder of small JPEGs (random 96x96 RGB, 10 classes) goes through
EfficientNet-Lite0 at 64 px (torch, batch 64, 2 threads), in two child processes so that
each peak RSS is its own:

  lazy   -- transferkit's loader: index + parallel check (cold cache), the same load again
            (check cache warm), a decode-only pass over every file (the batch pool), the
            extraction streamed into the feature cache, and the bare forward rate on one
            pre-collated batch in the same process;
  eager  -- the previous loader: every file decoded into a list in one thread, then the
            same extraction.

    python benchmarks/scale.py --n 20000 --extract 1000   # results/scale.md
    python benchmarks/scale.py --n 1000 --extract 300     # a quick look
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = 64
BATCH = 64


def rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mib() -> float:
    """Resident memory of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_jpegs(root: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(16, 24, 24, 3), dtype=np.uint8)
    for i in range(n):
        folder = root / f"c{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(base[i % 16]).resize((96, 96)).rotate(i % 360)
        img.save(folder / f"{i:06d}.jpg", quality=85)


def child(kind: str, root: Path, cache: Path, extract_n: int) -> dict[str, float]:
    import torch

    from transferkit.backbones import create_backbone
    from transferkit.data.dataset import TransferDataset
    from transferkit.data.decode import read_image
    from transferkit.data.images import load_image_folder
    from transferkit.features import extract_features

    torch.set_num_threads(2)
    out: dict[str, float] = {}
    bb = create_backbone("efficientnet_lite0", image_size=SIZE).eval()
    gc.collect()
    out["rss_start_mib"] = rss_now_mib()
    t = time.perf_counter()
    if kind == "lazy":
        data = load_image_folder(root)
        out["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        data = load_image_folder(root)
        out["load_warm_s"] = time.perf_counter() - t
        from concurrent.futures import ThreadPoolExecutor

        from transferkit._threads import process_cores

        t = time.perf_counter()
        with ThreadPoolExecutor(process_cores()) as pool:
            for start in range(0, len(data), BATCH):
                data.x.read_many(range(start, min(start + BATCH, len(data))), pool)
        out["decode_only_s"] = time.perf_counter() - t
    else:
        files = sorted(root.rglob("*.jpg"))
        items = [read_image(f) for f in files]
        y = np.array([int(f.parent.name[1:]) for f in files])
        data = TransferDataset(root.name, "image", items, y, [f"c{k}" for k in range(10)])
        out["load_s"] = time.perf_counter() - t
    gc.collect()
    out["rss_loaded_mib"] = rss_now_mib()
    out["n"] = float(len(data))
    data = data.subset(np.arange(min(extract_n, len(data))))
    t = time.perf_counter()
    feats = extract_features(bb, data, cache_dir=cache, backend="torch", batch_size=BATCH, progress=False)
    out["extract_s"] = time.perf_counter() - t
    out["extract_n"] = float(len(feats))
    out["rss_peak_mib"] = rss_mib()
    if kind == "lazy":
        batch = bb.collate([data.input(i) for i in range(BATCH)])
        with torch.inference_mode():
            bb(batch)
            t, reps = time.perf_counter(), 8
            for _ in range(reps):
                bb(batch)
        out["forward_img_s"] = reps * BATCH / (time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="files in the folder (load phases)")
    ap.add_argument("--extract", type=int, default=1000, help="of them, the first N extracted")
    ap.add_argument("--out", default=str(HERE / "results" / "scale.md"))
    ap.add_argument("--child", choices=("lazy", "eager"))
    ap.add_argument("--root")
    ap.add_argument("--cache")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.root), Path(args.cache), args.extract)))
        return
    work = Path(tempfile.mkdtemp(prefix="tk-scale-"))
    try:
        t = time.perf_counter()
        write_jpegs(work / "images", args.n)
        gen_s = time.perf_counter() - t
        time.sleep(2.5)  # files changed in the last two seconds are checked but not cached
        disk = sum(f.stat().st_size for f in (work / "images").rglob("*.jpg"))
        res = {}
        for kind in ("lazy", "eager"):
            env = {**os.environ, "TRANSFERKIT_CACHE_DIR": str(work / f"cache-{kind}"), "HF_HUB_OFFLINE": "1",
                   "OMP_NUM_THREADS": "2", "PYTHONPATH": str(HERE.parent)}
            proc = subprocess.run([sys.executable, __file__, "--child", kind, "--root", str(work / "images"),
                                   "--cache", str(work / f"features-{kind}"), "--extract", str(args.extract)], env=env, check=True,
                                  capture_output=True, text=True)
            res[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        write_report(Path(args.out), args.n, args.extract, disk, gen_s, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_report(out: Path, n: int, extract_n: int, disk: int, gen_s: float,
                 res: dict[str, dict[str, float]]) -> None:
    lazy, eager = res["lazy"], res["eager"]
    m = int(lazy["extract_n"])
    rate = m / lazy["extract_s"]
    lines = [
        "# Scale: an image folder indexed, checked and extracted batch by batch",
        "",
        f"{n} generated JPEGs (96x96 RGB, {disk / 2**20:.0f} MiB on disk, written in {gen_s:.0f} s), "
        f"EfficientNet-Lite0 at {SIZE} px, torch, batch {BATCH}, 2 threads. "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end (shared machine: times are noisy, "
        f"memory is not). The load phases read all {n} files; the extraction phases the first {m} "
        f"(at this load a full extraction would take hours). Command: `python benchmarks/scale.py "
        f"--n {n} --extract {extract_n}`.",
        "",
        "| phase | lazy (indexed + checked) | eager (previous loader) |",
        "|---|---|---|",
        f"| load: index + check, cold cache | {lazy['load_s']:.1f} s | {eager['load_s']:.1f} s (decode all, 1 thread) |",
        f"| load again, check cache warm | {lazy['load_warm_s']:.2f} s | {eager['load_s']:.1f} s (no cache) |",
        f"| decode only, every file (batch pool) | {lazy['decode_only_s']:.1f} s | — |",
        f"| extraction of {m} (decode + preprocess + forward, into the cache) | {lazy['extract_s']:.1f} s "
        f"({rate:.0f} img/s) | {eager['extract_s']:.1f} s ({m / eager['extract_s']:.0f} img/s) |",
        f"| bare forward, one pre-collated batch, same process | {lazy['forward_img_s']:.0f} img/s | — |",
        f"| extraction rate / bare forward rate | {rate / lazy['forward_img_s']:.2f} | — |",
        f"| RSS held by the loaded dataset (RSS after load - before) | "
        f"{lazy['rss_loaded_mib'] - lazy['rss_start_mib']:.0f} MiB | "
        f"{eager['rss_loaded_mib'] - eager['rss_start_mib']:.0f} MiB |",
        f"| peak RSS | {lazy['rss_peak_mib']:.0f} MiB | {eager['rss_peak_mib']:.0f} MiB |",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
