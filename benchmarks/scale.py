"""Scale -- an image folder indexed and checked, then extracted batch by batch (issue #25).

A generated folder of small JPEGs (random 96x96 RGB, 10 classes) goes through
EfficientNet-Lite0 at 64 px (the default backend: onnxruntime when it matches torch; batch
64), in child processes so that each peak memory is its own:

  lazy   -- transferkit's loader: index + parallel check (cold cache), the same load again
            (check cache warm), a decode-only pass over every file (the batch pool), the
            extraction streamed into the feature cache, and the bare forward rate of the same
            runner on one pre-collated batch in the same process;
  eager  -- the previous loader: every file decoded into a list in one thread, then the
            same extraction (skipped with --no-eager: at 200,000 files it holds ~5 GB);
  sweep  -- ``train.num_workers`` (``--num-workers``): the training DataLoader over the first
            --sweep files (decode + collate, what a strategy that trains the backbone reads),
            beside the rate of one training step (forward + backward) on a pre-collated batch.

Peak memory: ``VmHWM`` counts every resident page, also the pages of the memory-mapped
feature cache being written (file pages the kernel can drop at any time); the anonymous
peak (``RssAnon``, sampled every 0.1 s) is the process's own memory without them.

    python benchmarks/scale.py --n 200000 --extract 200000 --no-eager --sweep 20000 --out ...
    python benchmarks/scale.py --n 20000 --extract 1000       # results/scale.md (first run)
    python benchmarks/scale.py --n 1000 --extract 300 --sweep 500   # a quick look
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = 64
BATCH = 64


def status_mib(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM, RssAnon ...), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class AnonPeak:
    """The peak of ``RssAnon`` (memory that is not a file's pages), sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peak = status_mib("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, status_mib("RssAnon"))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_mib("RssAnon"))
        return self.peak


def phase(out: dict[str, float]) -> None:
    """The results so far, on stderr (a run stopped midway still says what it measured)."""
    print("phase", json.dumps(out), file=sys.stderr, flush=True)


def write_jpegs(root: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(16, 24, 24, 3), dtype=np.uint8)
    for i in range(n):
        folder = root / f"c{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(base[i % 16]).resize((96, 96)).rotate(i % 360)
        img.save(folder / f"{i:06d}.jpg", quality=85)


def bare_forward(bb: object, data: object, cache: Path, reps: int = 16) -> float:
    """Images per second of the runner extraction uses, on one pre-collated batch."""
    import torch

    from transferkit.features.cache import FeatureCache
    from transferkit.features.extract import _make_runner, _resolve_backend
    from transferkit.features.onnx import physical_cores

    chosen = _resolve_backend("auto", bb, False)
    batch = bb.collate([data.input(i) for i in range(BATCH)], **({"channels_last": False} if chosen == "onnx" else {}))
    with torch.inference_mode():
        runner = _make_runner(bb, bb, batch, chosen, False, FeatureCache(cache), None, physical_cores(), "auto")
        runner(batch)
        t = time.perf_counter()
        for _ in range(reps):
            runner(batch)
    return reps * BATCH / (time.perf_counter() - t)


def child_lazy(root: Path, cache: Path, extract_n: int) -> dict[str, float]:
    from concurrent.futures import ThreadPoolExecutor

    from transferkit._threads import process_cores
    from transferkit.backbones import create_backbone
    from transferkit.data.images import load_image_folder
    from transferkit.features import extract_features

    out: dict[str, float] = {"load_avg_start": os.getloadavg()[0]}
    bb = create_backbone("efficientnet_lite0", image_size=SIZE).eval()
    gc.collect()
    out["rss_start_mib"] = status_mib("VmRSS")
    t = time.perf_counter()
    data = load_image_folder(root)
    out["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    data = load_image_folder(root)
    out["load_warm_s"] = time.perf_counter() - t
    phase(out)
    gc.collect()
    out["rss_loaded_mib"] = status_mib("VmRSS")
    out["n"] = float(len(data))
    t = time.perf_counter()
    with ThreadPoolExecutor(process_cores()) as pool:
        for start in range(0, len(data), BATCH):
            data.x.read_many(range(start, min(start + BATCH, len(data))), pool)
    out["decode_only_s"] = time.perf_counter() - t
    phase(out)
    t = time.perf_counter()  # the one-off ONNX export and its check against torch, on 64 other images
    extract_features(bb, data.subset(np.arange(len(data) - BATCH, len(data))), cache_dir=cache,
                     batch_size=BATCH, progress=False)
    out["export_s"] = time.perf_counter() - t
    phase(out)
    data = data.subset(np.arange(min(extract_n, len(data))))
    out["load_avg_extract"] = os.getloadavg()[0]
    peak = AnonPeak()
    t = time.perf_counter()
    feats = extract_features(bb, data, cache_dir=cache, batch_size=BATCH, progress=False)
    out["extract_s"] = time.perf_counter() - t
    out["anon_peak_mib"] = peak.stop()
    out["hwm_mib"] = status_mib("VmHWM")
    out["extract_n"] = float(len(feats))
    out["forward_img_s"] = bare_forward(bb, data, cache)
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def child_eager(root: Path, cache: Path, extract_n: int) -> dict[str, float]:
    from transferkit.backbones import create_backbone
    from transferkit.data.dataset import TransferDataset
    from transferkit.data.decode import read_image
    from transferkit.features import extract_features

    out: dict[str, float] = {}
    bb = create_backbone("efficientnet_lite0", image_size=SIZE).eval()
    gc.collect()
    out["rss_start_mib"] = status_mib("VmRSS")
    t = time.perf_counter()
    files = sorted(root.rglob("*.jpg"))
    items = [read_image(f) for f in files]
    y = np.array([int(f.parent.name[1:]) for f in files])
    data = TransferDataset(root.name, "image", items, y, [f"c{k}" for k in range(10)])
    out["load_s"] = time.perf_counter() - t
    gc.collect()
    out["rss_loaded_mib"] = status_mib("VmRSS")
    data = data.subset(np.arange(min(extract_n, len(data))))
    t = time.perf_counter()
    feats = extract_features(bb, data, cache_dir=cache, batch_size=BATCH, progress=False)
    out["extract_s"] = time.perf_counter() - t
    out["extract_n"] = float(len(feats))
    out["hwm_mib"] = status_mib("VmHWM")
    return out


def child_sweep(root: Path, n: int, workers: list[int]) -> dict[str, float]:
    """The training DataLoader (decode + collate) over the first ``n`` files, per worker count."""
    import torch

    from transferkit.backbones import create_backbone
    from transferkit.data.images import load_image_folder
    from transferkit.train.batches import batch_loader

    bb = create_backbone("efficientnet_lite0", image_size=SIZE)
    data = load_image_folder(root)
    data = data.subset(np.random.default_rng(0).permutation(len(data))[:n])

    def collate(items: list) -> tuple:
        return bb.collate([x for x, _ in items]), torch.tensor([int(y) for _, y in items])

    batches = [list(range(s, min(s + BATCH, n))) for s in range(0, n, BATCH)]
    out: dict[str, float] = {"load_avg_start": os.getloadavg()[0]}
    for w in workers:
        t = time.perf_counter()
        for _ in batch_loader(data, batches, collate, w, 0):
            pass
        out[f"workers_{w}_img_s"] = n / (time.perf_counter() - t)
        phase(out)
    head = torch.nn.Linear(bb.feature_dim, 10)
    opt = torch.optim.SGD([*bb.parameters(), *head.parameters()], lr=1e-3)
    x, y = collate([data[i] for i in range(BATCH)])
    bb.train()
    reps = 2
    for r in range(reps + 1):
        if r == 1:
            t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(head(bb(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out["train_step_img_s"] = reps * BATCH / (time.perf_counter() - t)
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="files in the folder (load phases)")
    ap.add_argument("--extract", type=int, default=1000, help="of them, the first N extracted")
    ap.add_argument("--sweep", type=int, default=0, help="files in the --num-workers sweep (0: none)")
    ap.add_argument("--workers", default="0,1,2", help="worker counts of the sweep")
    ap.add_argument("--no-eager", action="store_true", help="skip the previous (eager) loader")
    ap.add_argument("--root", help="an existing folder written by this script (same n): not regenerated")
    ap.add_argument("--out", default=str(HERE / "results" / "scale.md"))
    ap.add_argument("--child", choices=("lazy", "eager", "sweep"))
    ap.add_argument("--cache")
    args = ap.parse_args()
    if args.child:
        root, cache = Path(args.root), Path(args.cache)
        res = (child_sweep(root, args.sweep, [int(w) for w in args.workers.split(",")]) if args.child == "sweep"
               else (child_lazy if args.child == "lazy" else child_eager)(root, cache, args.extract))
        print(json.dumps(res))
        return
    work = Path(tempfile.mkdtemp(prefix="tk-scale-", dir=os.environ.get("TMPDIR", "/tmp")))
    try:
        t = time.perf_counter()
        root = Path(args.root) if args.root else work / "images"
        if not args.root:
            write_jpegs(root, args.n)
        gen_s = time.perf_counter() - t
        time.sleep(2.5)  # files changed in the last two seconds are checked but not cached
        disk = sum(f.stat().st_size for f in root.rglob("*.jpg"))
        res: dict[str, dict[str, float]] = {}
        kinds = ["lazy"] + ([] if args.no_eager else ["eager"]) + (["sweep"] if args.sweep else [])
        for kind in kinds:
            env = {**os.environ, "TRANSFERKIT_CACHE_DIR": str(work / f"cache-{kind}"), "HF_HUB_OFFLINE": "1",
                   "OMP_NUM_THREADS": "2", "PYTHONPATH": str(HERE.parent)}
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child", kind, "--root", str(root),
                                   "--cache", str(work / f"features-{kind}"), "--extract", str(args.extract),
                                   "--sweep", str(args.sweep), "--workers", args.workers],
                                  env=env, check=True, stdout=subprocess.PIPE, text=True)
            res[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
            res[kind]["wall_s"] = time.perf_counter() - t
            print(kind, json.dumps(res[kind]), flush=True)
        write_report(Path(args.out), args, disk, gen_s, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_report(out: Path, args: argparse.Namespace, disk: int, gen_s: float,
                 res: dict[str, dict[str, float]]) -> None:
    lazy, eager = res["lazy"], res.get("eager")
    n, m = int(lazy["n"]), int(lazy["extract_n"])
    rate = m / lazy["extract_s"]
    cmd = " ".join(["python benchmarks/scale.py", *sys.argv[1:]])

    def old(text: str) -> str:
        return text if eager is not None else "not run (--no-eager)"

    lines = [
        f"## {n} images: index, check, extraction of {m}",
        "",
        f"{n} generated JPEGs (96x96 RGB, {disk / 2**20:.0f} MiB on disk"
        + (f", written in {gen_s:.0f} s" if not args.root else ", written beforehand") + "), "
        f"EfficientNet-Lite0 at {SIZE} px, default backend, batch {BATCH}. Machine: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs shared with other jobs; "
        f"load average {lazy['load_avg_start']:.1f} at the start of the lazy run, "
        f"{lazy['load_avg_extract']:.1f} when its extraction started, {lazy['load_avg_end']:.1f} at its end "
        f"(times are inflated; memory is not). Command: `{cmd}`.",
        "",
        "| phase | lazy (indexed + checked) | eager (previous loader) |",
        "|---|---|---|",
        f"| load: index + check, cold cache | {lazy['load_s']:.1f} s | "
        + old(f"{eager['load_s']:.1f} s (decode all, 1 thread)" if eager else "") + " |",
        f"| load again, check cache warm | {lazy['load_warm_s']:.2f} s | " + old("no cache") + " |",
        f"| decode only, every file (batch pool) | {lazy['decode_only_s']:.1f} s "
        f"({n / lazy['decode_only_s']:.0f} img/s) | — |",
        f"| extraction of {m} (decode + preprocess + forward, into the cache) | {lazy['extract_s']:.1f} s "
        f"({rate:.0f} img/s) | "
        + old(f"{eager['extract_s']:.1f} s ({int(eager['extract_n']) / eager['extract_s']:.0f} img/s)" if eager else "")
        + " |",
        f"| one-off: ONNX export + its check against torch (64 other images, before) | {lazy['export_s']:.1f} s | — |",
        f"| bare forward, same runner, one pre-collated batch, same process (after) | {lazy['forward_img_s']:.0f} img/s | — |",
        f"| extraction rate / bare forward rate | {rate / lazy['forward_img_s']:.2f} | — |",
        f"| RSS held by the loaded dataset (VmRSS after load - before) | "
        f"{lazy['rss_loaded_mib'] - lazy['rss_start_mib']:.0f} MiB | "
        + old(f"{eager['rss_loaded_mib'] - eager['rss_start_mib']:.0f} MiB" if eager else "") + " |",
        f"| peak anonymous memory during extraction (RssAnon, sampled) | {lazy['anon_peak_mib']:.0f} MiB | — |",
        f"| peak RSS of the process (VmHWM, with the cache's mapped pages) | {lazy['hwm_mib']:.0f} MiB | "
        + old(f"{eager['hwm_mib']:.0f} MiB" if eager else "") + " |",
        "",
    ]
    sweep = res.get("sweep")
    if sweep:
        lines += [f"`--num-workers` sweep: the training DataLoader (decode + collate to {SIZE} px) over "
                  f"{args.sweep} of the files, in random order; load average {sweep['load_avg_start']:.1f} "
                  f"-> {sweep['load_avg_end']:.1f}.", "", "| train.num_workers | img/s |", "|---|---|"]
        lines += [f"| {w} | {sweep[f'workers_{w}_img_s']:.0f} |" for w in args.workers.split(",")]
        lines += [f"| (one training step, forward + backward, batch {BATCH}) | {sweep['train_step_img_s']:.0f} |", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
