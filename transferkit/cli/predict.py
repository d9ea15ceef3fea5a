"""``transferkit predict RUN INPUTS...``."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from transferkit.cli import COMMANDS, add_device_argument


@COMMANDS.register("predict", help="Predict with a saved run: image files or folders, a "
                   "CSV/JSONL of texts or table rows.")
class PredictCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", help="Run directory written by fit/adapt/pretrain.")
        parser.add_argument("inputs", nargs="+", help="Image files/folders, a CSV/JSONL file, or "
                            "texts (for text models).")
        parser.add_argument("--format", choices=("csv", "json"), default="csv",
                            help="Output format (default csv).")
        parser.add_argument("--output", "-o", help="Write predictions to this file instead of stdout.")
        add_device_argument(parser)
        parser.add_argument("--output-dir", help="Tasks that predict files (segmentation: one mask "
                            "PNG per input, at its size) write them to this folder; the rows name them.")
        parser.add_argument("--skip-bad", action="store_true",
                            help="Skip image files that cannot be decoded (listed in a warning) "
                            "instead of stopping.")
        parser.add_argument("--max-megapixels", type=float, default=100.0,
                            help="Largest image decoded (width x height, in megapixels; default "
                            "100), checked from its header before decoding.")
        parser.add_argument("--chunk-size", type=int, default=512,
                            help="With --output FILE.csv: inputs predicted and written per chunk "
                            "(default 512); FILE.csv.partial holds the rows until all are done.")
        parser.add_argument("--workers", type=int, default=2,
                            help="With --output FILE.csv: threads decoding image files ahead of the "
                            "model (default 2).")
        parser.add_argument("--resume", action="store_true",
                            help="Continue an interrupted --output FILE.csv (its .partial file): "
                            "inputs already written are not predicted again.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.data.inputs import collect_inputs
        from transferkit.errors import ConfigError
        from transferkit.jobs.predict import load
        from transferkit.jobs.stream import file_writer, predicted_rows, stream_predictions

        if not args.max_megapixels > 0:
            raise ConfigError(f"The '--max-megapixels' option must be > 0. Got {args.max_megapixels}.")
        predictor = load(args.run, device=args.device)
        rows = predictor.task.predict_inputs(predictor, args.inputs)  # e.g. series files to forecast
        if rows is None and args.output and args.format == "csv":  # large inputs: chunk by chunk
            n = stream_predictions(predictor, args.inputs, args.output, chunk_size=args.chunk_size,
                                   workers=args.workers, resume=args.resume, skip_bad=args.skip_bad,
                                   max_pixels=int(args.max_megapixels * 1e6), output_dir=args.output_dir)
            print(f"{n} predictions written to {args.output}", file=sys.stderr)
            return 0
        if args.resume:
            raise ConfigError("--resume continues an interrupted --output FILE.csv; give that --output.")
        if rows is None:
            ids, items = collect_inputs(args.inputs, predictor.modality, predictor.manifest.get("data"),
                                        skip_bad=args.skip_bad, max_pixels=int(args.max_megapixels * 1e6))
            rows = predicted_rows(predictor, ids, items, args.output_dir)
        else:
            file_writer(predictor, args.output_dir)  # rows from the task's own reader: no files
        return _write_rows(rows, args)


def _write_rows(rows: list[dict], args: argparse.Namespace) -> int:
    """Print (or write to --output) the prediction rows as CSV or JSON."""
    from transferkit.rundir import atomic_write_text

    if args.format == "json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["input", "class"])
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    if args.output:
        atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
