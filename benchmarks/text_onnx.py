"""Frozen MiniLM features through torch vs onnxruntime, on fine-foods reviews (issue #20).

Exports ``TextBackbone.forward`` (input_ids, attention_mask, token_type_ids -> the pooled,
normalised vector; ``pool_stages`` as ``fit``'s linear probe sets it) with dynamic batch
and sequence axes twice: as transformers builds it (SDPA attention), and with eager
attention passed through onnxruntime's BERT optimiser (fused Attention, EmbedLayerNorm,
SkipLayerNorm, BiasGelu). Each batch runs through torch and each session in turn, so a
load that changes during the run falls on all of them alike; wall and process CPU
seconds are both printed (CPU seconds are steadier on a shared machine). Prints only.

``--order`` measures instead what the order of the texts costs torch on the whole test
set: by characters (``length_order``, what the extractor does) or by token count (less
padding: the batches of a character-sorted set are not sorted by tokens).

    python benchmarks/text_onnx.py --texts 256 --batch-size 64 --repeats 2
    python benchmarks/text_onnx.py --order --texts 1000 --repeats 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NAMES = ("input_ids", "attention_mask", "token_type_ids")


class _Positional(nn.Module):
    """The backbone's dict input as positional tensors, for the exporter."""

    def __init__(self, bb: nn.Module) -> None:
        super().__init__()
        self.bb = bb

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.bb({"input_ids": input_ids, "attention_mask": attention_mask,
                        "token_type_ids": token_type_ids})


def export(bb: Any, sample: dict[str, torch.Tensor], path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Positional(bb).eval(), tuple(sample[n] for n in NAMES), str(path), dynamo=False,
                          input_names=list(NAMES), output_names=["y"], opset_version=17,
                          dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in NAMES}, "y": {0: "batch"}})


def compare_orders(args: argparse.Namespace) -> None:
    """torch on the test reviews in character-length order vs token-count order."""
    import transferkit as tk
    from transferkit.backbones import create_backbone
    from transferkit.features.extract import length_order
    from transferkit.features.onnx import physical_cores

    torch.set_num_threads(physical_cores())
    bb = create_backbone("minilm").eval()
    if args.pool_stages:
        bb.set_pool_stages(args.pool_stages)
    test = tk.data.load("fine-foods", split="test")
    n = min(args.texts, len(test))
    texts = [str(test.input(i)) for i in range(n)]
    bs = args.batch_size
    enc = bb.tokenizer(texts, truncation=True, max_length=bb.max_length)
    lens = np.array([len(x) for x in enc["input_ids"]])

    def by_chars() -> np.ndarray:
        order = length_order(test, np.arange(n))
        out = [bb(bb.collate([texts[i] for i in order[s:s + bs]])).numpy() for s in range(0, n, bs)]
        return np.concatenate(out)[np.argsort(order)]

    def by_tokens() -> np.ndarray:
        order = np.argsort(-lens, kind="stable")
        out = [bb(dict(bb.tokenizer.pad([{k: enc[k][i] for k in enc} for i in order[s:s + bs]],
                                        return_tensors="pt"))).numpy() for s in range(0, n, bs)]
        return np.concatenate(out)[np.argsort(order)]

    for name, order in (("characters", length_order(test, np.arange(n))), ("tokens", np.argsort(-lens))):
        t = lens[order]
        padded = sum(int(t[s:s + bs].max()) * len(t[s:s + bs]) for s in range(0, n, bs))
        print(f"by {name}: {padded} padded tokens for {int(lens.sum())} real ({padded / lens.sum():.3f}x)")
    ref = None
    with torch.inference_mode():
        by_chars()  # warm-up
        for rep in range(args.repeats):
            for name, run in (("characters", by_chars), ("tokens", by_tokens)):
                c0, t0 = time.process_time(), time.perf_counter()
                out = run()
                w, c = time.perf_counter() - t0, time.process_time() - c0
                ref = out if ref is None else ref
                print(f"repeat {rep}, order by {name}: wall {w:.2f} s, CPU {c:.2f} s, "
                      f"max abs diff {float(np.abs(out - ref).max()):.1e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=256, help="test reviews to embed")
    ap.add_argument("--batch-size", type=int, default=64, help="extract_features' default")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pool-stages", type=int, default=2, help="fit's default for a frozen text backbone")
    ap.add_argument("--order", action="store_true", help="compare text orders through torch instead")
    args = ap.parse_args()
    if args.order:
        compare_orders(args)
        return

    from onnxruntime.transformers.optimizer import optimize_model

    import transferkit as tk
    from transferkit.backbones import create_backbone
    from transferkit.features.onnx import ort_session, ort_spinning, physical_cores

    threads = physical_cores()
    torch.set_num_threads(threads)
    bb = create_backbone("minilm").eval()
    if args.pool_stages:
        bb.set_pool_stages(args.pool_stages)
    test = tk.data.load("fine-foods", split="test")
    texts = sorted((str(test.input(i)) for i in range(min(args.texts, len(test)))), key=len, reverse=True)
    batches = [bb.collate(texts[i:i + args.batch_size]) for i in range(0, len(texts), args.batch_size)]
    print(f"threads {threads}, spinning {ort_spinning()}, max_length {bb.max_length}, pool_stages "
          f"{bb.pool_stages}, padded lengths {[int(b['input_ids'].shape[1]) for b in batches]}")

    cfg = bb.encoder.config
    runs: dict[str, Callable[[dict[str, torch.Tensor]], np.ndarray]] = {"torch": lambda b: bb(b).numpy()}
    with tempfile.TemporaryDirectory() as tmp:
        plain, eager, fused = Path(tmp, "sdpa.onnx"), Path(tmp, "eager.onnx"), Path(tmp, "eager_bert.onnx")
        export(bb, batches[0], plain)
        attn = cfg._attn_implementation
        bb.encoder.set_attn_implementation("eager")  # the BERT optimiser fuses eager attention only
        try:
            export(bb, batches[0], eager)
        finally:
            bb.encoder.set_attn_implementation(attn)
        opt = optimize_model(str(eager), model_type="bert", num_heads=cfg.num_attention_heads,
                             hidden_size=cfg.hidden_size, opt_level=0)
        opt.save_model_to_file(str(fused))
        print("fused:", {k: v for k, v in opt.get_fused_operator_statistics().items() if v})
        for name, path in (("ort (sdpa export)", plain), ("ort (eager + bert optimiser)", fused)):
            sess = ort_session(path, threads)
            runs[name] = (lambda s: lambda b: s.run(None, {n: b[n].numpy() for n in NAMES})[0])(sess)

        wall = dict.fromkeys(runs, 0.0)
        cpu = dict.fromkeys(runs, 0.0)
        outs: dict[str, list[np.ndarray]] = {k: [] for k in runs}
        with torch.inference_mode():
            for run in runs.values():
                run(batches[-1])  # warm-up
            for rep in range(args.repeats):
                for b in batches:
                    for name, run in runs.items():
                        c0, t0 = time.process_time(), time.perf_counter()
                        out = run(b)
                        wall[name] += time.perf_counter() - t0
                        cpu[name] += time.process_time() - c0
                        if rep == 0:
                            outs[name].append(out)
    ref = np.concatenate(outs["torch"])
    print("| runtime | wall s/pass | CPU s/pass | wall speed-up | CPU speed-up | max abs diff vs torch |")
    print("|---|---|---|---|---|---|")
    for name in runs:
        err = float(np.abs(np.concatenate(outs[name]) - ref).max())
        print(f"| {name} | {wall[name] / args.repeats:.2f} | {cpu[name] / args.repeats:.2f} | "
              f"{wall['torch'] / wall[name]:.2f}x | {cpu['torch'] / cpu[name]:.2f}x | {err:.1e} |")


if __name__ == "__main__":
    main()
