"""``transferkit report RUN``: rebuild a run's report.html."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS


@COMMANDS.register("report", help="Rebuild the self-contained HTML report of a run directory.")
class ReportCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", help="Run directory written by fit/adapt/pretrain.")
        parser.add_argument("--open", action="store_true", help="Open the report in a browser.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.report import write_report

        path = write_report(args.run)
        print(f"report: {path}")
        if args.open:
            import webbrowser

            webbrowser.open(path.resolve().as_uri())
        return 0
