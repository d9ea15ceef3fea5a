"""``transferkit export RUN --format onnx|torchscript|safetensors --out DIR``."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS


@COMMANDS.register("export", help="Export a run's model (ONNX, TorchScript or safetensors) with its "
                   "preprocessing metadata and a model card.")
class ExportCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from transferkit.export import DEFAULT_OPSET, FORMATS

        parser.add_argument("run", help="Run directory written by fit/adapt/pretrain.")
        parser.add_argument("--format", choices=FORMATS, default="onnx", help="Model format (default onnx).")
        parser.add_argument("--out", help="Output folder (default <run>/export-<format>).")
        parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                            help=f"ONNX opset version (default {DEFAULT_OPSET}).")
        parser.add_argument("--tolerance", type=float, default=1e-4,
                            help="Largest accepted difference of logits vs PyTorch on sample inputs.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.export import PREPROCESSING, export

        out = export(args.run, args.format, args.out, opset=args.opset, tolerance=args.tolerance)
        import json

        parity = json.loads((out / PREPROCESSING).read_text(encoding="utf-8")).get("parity") or {}
        extra = f" (max |logit diff| vs PyTorch {parity['max_abs_diff']:.1e})" if parity else ""
        print(f"exported {args.format} to {out}{extra}")
        return 0
