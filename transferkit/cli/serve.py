"""``transferkit serve RUN``: an HTTP prediction server (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from transferkit.cli import COMMANDS, add_device_argument
from transferkit.errors import ConfigError

ENV_API_KEY = "TRANSFERKIT_API_KEY"


@COMMANDS.register("serve", help="Serve a run over HTTP: POST /predict, GET /health, GET /metadata "
                   "and a small upload page at /.")
class ServeCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", help="Run directory written by fit/adapt/pretrain.")
        parser.add_argument("--host", default="127.0.0.1",
                            help="Address to bind (default 127.0.0.1: this machine only).")
        parser.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
        add_device_argument(parser)
        parser.add_argument("--api-key", help=f"Require this key in the X-API-Key header (or set "
                            f"${ENV_API_KEY}, which keeps it out of the process list).")
        parser.add_argument("--max-request-mb", type=float, default=10.0,
                            help="Largest accepted request body in MiB (default 10).")
        parser.add_argument("--max-batch", type=int, default=64,
                            help="Most inputs accepted in one request (default 64).")
        parser.add_argument("--max-megapixels", type=float, default=40.0,
                            help="Largest image accepted (width x height, in megapixels; default 40), "
                            "checked from its header before decoding; larger -> 413.")
        parser.add_argument("--max-request-megapixels", type=float, default=100.0,
                            help="Most megapixels of all images in one request (default 100).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.serve import serve

        if not 0 < args.port < 65536:
            raise ConfigError(f"The '--port' option must be in 1..65535. Got {args.port} instead.")
        if args.max_request_mb <= 0:
            raise ConfigError(f"The '--max-request-mb' option must be > 0. Got {args.max_request_mb}.")
        for flag, value in (("--max-megapixels", args.max_megapixels),
                            ("--max-request-megapixels", args.max_request_megapixels)):
            if not value > 0:
                raise ConfigError(f"The '{flag}' option must be > 0. Got {value}.")
        api_key = args.api_key if args.api_key is not None else os.environ.get(ENV_API_KEY)
        if api_key is not None and not api_key.strip():
            given = "--api-key" if args.api_key is not None else f"${ENV_API_KEY}"
            raise ConfigError(f"The '{given}' key is empty, which would serve without authentication. "
                              f"Pass a non-empty key, or leave {given} unset to serve without one.")
        if api_key is None and not _is_loopback(args.host):
            print(f"transferkit serve: warning: listening on {args.host} without an API key; anyone "
                  "who can reach this address can use the model. Pass --api-key.", file=sys.stderr)
        serve(args.run, host=args.host, port=args.port, api_key=api_key,
              max_request_bytes=max(1024, int(args.max_request_mb * 2**20)), max_batch=args.max_batch,
              max_pixels=max(1, int(args.max_megapixels * 1e6)),
              max_request_pixels=max(1, int(args.max_request_megapixels * 1e6)), device=args.device)
        return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
