"""``transferkit push RUN REPO``: a run directory to a Hugging Face Hub repo."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS


@COMMANDS.register("push", help="Upload a run directory to a Hugging Face Hub repo (private by "
                   "default), with a model card; load it back with transferkit.load('hf://REPO').")
class PushCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", help="Run directory written by fit/adapt/pretrain/multimodal.")
        parser.add_argument("repo", help="Hub repo: <user or org>/<name> (created if missing).")
        parser.add_argument("--public", action="store_true", help="Create the repo public (default: "
                            "private).")
        parser.add_argument("--with-report", action="store_true", help="Also upload report.html, which "
                            "shows test examples (off by default).")
        parser.add_argument("--token", help="Hub token (default: the logged-in one or $HF_TOKEN).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.hub import PREFIX, push_run

        url = push_run(args.run, args.repo, private=not args.public, with_report=args.with_report,
                       token=args.token)
        repo = args.repo.removeprefix(PREFIX)
        print(f"pushed {args.run} to {url} ({'public' if args.public else 'private'}); load it with "
              f"transferkit.load('{PREFIX}{repo}')")
        return 0
