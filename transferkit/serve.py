"""An HTTP prediction server for a run directory (FastAPI + uvicorn).

Endpoints::

    POST /predict    images as multipart files or base64 JSON {"images": [...]},
                     texts {"texts": [...]}, table rows {"rows": [{column: value}, ...]}
    GET  /health     liveness and what the model classifies
    GET  /metadata   classes, modality, backbone and preprocessing, test metrics, limits
    GET  /           a small page to upload an image or paste text and see the prediction

With an API key every request except the page itself needs the header ``X-API-Key``
(compared in constant time); a missing or wrong key gets 401. Bodies larger than the
limit get 413, before the model sees them; so do images over the pixel budget (per image
and per request, read from each image's header before any is decoded; decoding runs off
the event loop). Bad input (a corrupt image, a wrong JSON
shape, texts sent to an image model) gets a 4xx whose ``detail`` says what to send.

>>> app = create_app("runs/digits-efficientnet_lite0-linear-probe", api_key="secret")  # doctest: +SKIP
>>> serve("runs/digits-efficientnet_lite0-linear-probe", port=8000)  # doctest: +SKIP
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations
# (``request: Request``) at definition time, and they are local imports.
import base64
import binascii
import hmac
import json
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from transferkit.errors import ConfigError, TransferkitError

DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_BATCH = 64
#: pixel budgets (width x height), checked from each image's header before anything is decoded:
#: a small PNG can hold a huge image (9000x9000 in 236 KB decodes to 243 MB as RGB)
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_REQUEST_PIXELS = 100_000_000
API_KEY_HEADER = "X-API-Key"
_OPEN_PATHS = ("/",)  # the page itself carries no data; everything it fetches needs the key
_JSON_KEYS = {"image": "images", "text": "texts", "table": "rows", "sequence": "sequences"}


class BadInput(TransferkitError, ValueError):
    """A request the server cannot predict on; becomes a 4xx with this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _page() -> str:
    return resources.files("transferkit.serve_static").joinpath("index.html").read_text(encoding="utf-8")


class _Guard:
    """ASGI middleware: API key (constant-time) and request-size limit, before any routing.

    The body is buffered up to the limit and replayed to the application, so an oversized
    upload is refused with 413 whether or not it declared its length.
    """

    def __init__(self, app: Any, api_key: str | None, max_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.max_bytes = max_bytes

    async def _reply(self, send: Any, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", API_KEY_HEADER.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        open_page = scope["method"] in ("GET", "HEAD") and scope["path"] in _OPEN_PATHS
        if self.api_key is not None and not open_page:
            given = headers.get(API_KEY_HEADER.lower(), b"")
            if not hmac.compare_digest(given, self.api_key):
                await self._reply(send, 401, f"Missing or wrong API key. Send it in the "
                                             f"'{API_KEY_HEADER}' header.")
                return
        declared = headers.get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await self._reply(send, 400, "The Content-Length header is not a number.")
                return
            if too_big:
                await self._reply(send, 413, self._too_big(int(declared)))
                return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reply(send, 413, self._too_big(size, at_least=True))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_big(self, size: int, at_least: bool = False) -> str:
        return (f"The request body is {'over ' if at_least else ''}{size} bytes; this server accepts "
                f"at most {self.max_bytes} bytes ({self.max_bytes / 2**20:.1f} MiB). Send fewer or "
                "smaller inputs per request, or start the server with a larger --max-request-mb.")


class _Model:
    """The loaded run and the conversion of request payloads into predictions."""

    def __init__(self, run_dir: Path, max_batch: int, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS, device: Any = "auto") -> None:
        from transferkit.jobs.predict import load

        self.predictor = load(run_dir, device=device)
        self.run_dir = run_dir
        self.max_batch = max_batch
        self.max_pixels = max_pixels
        self.max_request_pixels = max_request_pixels
        self.modality = self.predictor.modality
        #: table columns whose cells are images (a multimodal run): sent as base64, decoded here
        self.image_columns = list(getattr(self.predictor, "image_columns", ()))
        self.classes = self.predictor.classes
        self.lock = threading.Lock()
        self.summary = _optional_summary(run_dir / "summary.json")

    def _expect(self) -> str:
        if self.modality == "image":
            return ('image files as multipart/form-data (field "files"), or JSON {"images": '
                    '["<base64>", ...]}')
        if self.modality == "text":
            return 'JSON {"texts": ["...", ...]} (or multipart form fields "texts")'
        if self.modality == "table" and self.image_columns:
            return ('JSON {"rows": [{"column": value, ...}, ...]}, the image column(s) '
                    f'{", ".join(self.image_columns)} as base64 strings (null: missing)')
        if self.modality == "table":
            return 'JSON {"rows": [{"column": value, ...}, ...]}'
        return 'JSON {"sequences": [[[v, ...], ...], ...]} (each a (T, C) list)'

    def _count(self, n: int) -> None:
        if n == 0:
            raise BadInput(f"The request holds no inputs. Send {self._expect()}.")
        if n > self.max_batch:
            raise BadInput(f"The request holds {n} inputs; at most {self.max_batch} are accepted per "
                           "request. Split the batch.", status=413)

    def items_from_json(self, payload: Any) -> list[Any]:
        if not isinstance(payload, dict):
            raise BadInput(f"The JSON body must be an object; got {type(payload).__name__}. Send "
                           f"{self._expect()}.")
        present = [k for k in ("images", "texts", "rows", "sequences") if k in payload]
        wanted = _JSON_KEYS[self.modality]
        if present != [wanted]:
            got = f"keys {sorted(payload)}" if payload else "an empty object"
            raise BadInput(f"This model classifies {self.modality} inputs: send {self._expect()}. "
                           f"Got {got}.")
        values = payload[wanted]
        if not isinstance(values, list):
            raise BadInput(f"'{wanted}' must be a list; got {type(values).__name__}.")
        self._count(len(values))
        if self.modality == "image":
            return self._images([(f"images[{i}]", _b64(v, f"images[{i}]")) for i, v in enumerate(values)])
        if self.modality == "text":
            bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
            if bad:
                raise BadInput(f"texts[{bad[0]}] is a {type(values[bad[0]]).__name__}; every text must "
                               "be a string.")
            return list(values)
        if self.modality == "table":
            bad = [i for i, v in enumerate(values) if not isinstance(v, dict)]
            if bad:
                raise BadInput(f"rows[{bad[0]}] is a {type(values[bad[0]]).__name__}; every row must be "
                               "an object {column: value}.")
            return self._row_images(list(values))  # Predictor checks them against the training schema
        import numpy as np

        try:
            return [np.asarray(v, dtype=np.float32).reshape(len(v), -1) for v in values]
        except (ValueError, TypeError) as exc:
            raise BadInput(f"Every sequence must be a (T, C) list of numbers: {exc}.") from None

    def _row_images(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows with their image cells (base64 strings; null or absent: a missing image)
        decoded, within the pixel budgets; never a path -- the server reads no files."""
        where = [(i, c) for i, r in enumerate(rows) for c in self.image_columns if r.get(c) is not None]
        if not where:
            return rows
        named = []
        for i, c in where:
            try:
                named.append((f"rows[{i}].{c}", _b64(rows[i][c], f"rows[{i}].{c}")))
            except BadInput:
                raise BadInput(f"rows[{i}].{c} must be an image in base64 (null when the row has none); got "
                               f"{str(rows[i][c])[:40]!r}. The server reads no file paths.") from None
        images = self._images(named)
        out = [dict(r) for r in rows]
        for (i, c), image in zip(where, images, strict=True):
            out[i][c] = image
        return out

    def _images(self, named: list[tuple[str, bytes]]) -> list[Any]:
        """Decoded images, after every header is checked against the pixel budgets (so an
        over-budget request is refused before a single image is decoded)."""
        from transferkit.data.decode import PixelLimitError, image_pixels, read_image

        fix = "restart the server with a higher --max-megapixels"
        total = 0
        for where, data in named:
            try:
                total += image_pixels(data, where, self.max_pixels, fix)
            except PixelLimitError as exc:
                raise BadInput(str(exc), status=413) from None
            except TransferkitError as exc:
                raise BadInput(f"{where} is not a readable image: {exc}") from None
        if total > self.max_request_pixels:
            raise BadInput(f"The request's {len(named)} images hold {total / 1e6:.1f} megapixels in all, "
                           f"over the limit of {self.max_request_pixels / 1e6:g} megapixels per request. "
                           "Send fewer or smaller images per request, or restart the server with a "
                           "higher --max-request-megapixels.", status=413)
        out = []
        for where, data in named:
            try:
                out.append(read_image(data, self.max_pixels, fix))
            except TransferkitError as exc:
                raise BadInput(f"{where} is not a readable image: {exc}") from None
        return out

    async def items_from_form(self, request: Any) -> list[Any]:
        from starlette.concurrency import run_in_threadpool

        form = await request.form()
        files, texts = [], []
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                files.append((value.filename or key, await value.read()))
            elif key in ("text", "texts"):
                texts.append(str(value))
        if self.modality == "image":
            if texts and not files:
                raise BadInput(f"This model classifies images, not texts: send {self._expect()}.")
            self._count(len(files))
            return await run_in_threadpool(self._images, [(f"file '{name}'", data) for name, data in files])
        if self.modality == "text":
            if files and not texts:
                raise BadInput(f"This model classifies texts, not files: send {self._expect()}.")
            self._count(len(texts))
            return texts
        raise BadInput(f"This model classifies {self.modality} inputs: send {self._expect()}.", status=415)

    def predict(self, items: list[Any]) -> list[dict[str, Any]]:
        try:
            with self.lock:
                # a task that answers whole inputs itself (forecasting: series -> next values)
                answered = self.predictor.task.answer_inputs(self.predictor, items)
                if answered is not None:
                    return answered
                probs, extra = self.predictor.outputs(items)  # extra: novelty columns, if any
        except BadInput:
            raise
        except (TransferkitError, ValueError, TypeError, KeyError, IndexError, RuntimeError,
                ArithmeticError, RecursionError) as exc:
            # raised while preprocessing the request's inputs (shapes, values, columns)
            raise BadInput(f"Cannot predict on these inputs: {exc}") from None
        from transferkit.novelty import with_columns

        return with_columns(self.predictor.task.answers_for(items, probs, self.predictor.manifest), extra)

    def metadata(self, max_bytes: int, api_key: bool) -> dict[str, Any]:
        manifest = self.predictor.manifest
        backbone = {k: v for k, v in (manifest.get("backbone") or {}).items() if k != "config"}
        test = {k: v for k, v in ((self.summary.get("metrics") or {}).get("test") or {}).items()
                if isinstance(v, (int, float))}
        return {
            "task": self.predictor.task.name,
            "modality": self.modality,
            "classes": self.classes,
            "backbone": backbone,
            "strategy": self.summary.get("strategy"),
            "data": {"target": (self.summary.get("data") or {}).get("target"),
                     "schema": (manifest.get("data") or {}).get("schema"),
                     # a multimodal run's columns: what each row may hold
                     "columns": [{"column": c["column"], "kind": c["kind"]} for c in manifest.get("columns") or []]
                     or None},
            "novelty": manifest.get("novelty") and {k: manifest["novelty"][k] for k in ("score", "flag", "level")},
            "metrics": {"test": test},
            "warnings": self.summary.get("warnings", []),
            "input": self._expect(),
            "json_key": _JSON_KEYS[self.modality],
            "limits": {"max_request_bytes": max_bytes, "max_batch": self.max_batch,
                       "max_pixels": self.max_pixels, "max_request_pixels": self.max_request_pixels},
            "api_key_required": api_key,
            "versions": manifest.get("versions"),
            "run": self.run_dir.name,
        }


def _optional_summary(path: Path) -> dict[str, Any]:
    """summary.json (metrics shown by /metadata): optional, so an unreadable one is a
    warning, not a server that fails to start."""
    import warnings

    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        warnings.warn(f"'{path}' cannot be read ({type(exc).__name__}: {exc}); serving without its "
                      "metrics in /metadata.", UserWarning, stacklevel=3)
        return {}
    if not isinstance(data, dict):
        warnings.warn(f"'{path}' is not a JSON object; serving without its metrics in /metadata.",
                      UserWarning, stacklevel=3)
        return {}
    return data


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise BadInput(f"{where} must be a base64 string; got {type(value).__name__}.")
    text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{where} is not valid base64.") from None


def create_app(run_dir: str | Path, api_key: str | None = None,
               max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS, device: Any = "auto") -> Any:
    """The FastAPI application serving ``run_dir`` (the model is loaded once, here, onto
    ``device``: see :mod:`transferkit.devices`).

    ``max_pixels`` and ``max_request_pixels`` bound the width x height of one image and of
    all images in a request (checked from the headers before decoding; over -> 413).
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool

    from transferkit import __version__

    if not isinstance(max_request_bytes, int) or max_request_bytes < 1024:
        raise ConfigError(f"The 'max_request_bytes' parameter must be an int >= 1024. Got "
                          f"{max_request_bytes!r} instead.")
    if not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigError(f"The 'max_batch' parameter must be an int >= 1. Got {max_batch!r} instead.")
    for key, value in (("max_pixels", max_pixels), ("max_request_pixels", max_request_pixels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"The '{key}' parameter must be an int >= 1 (width x height). Got "
                              f"{value!r} instead.")
    if api_key is not None and not api_key.strip():
        raise ConfigError("The 'api_key' parameter is empty. Pass a non-empty key, or none to serve "
                          "without authentication.")
    model = _Model(Path(run_dir), max_batch, max_pixels, max_request_pixels, device=device)
    app = FastAPI(title=f"transferkit · {Path(run_dir).name}", version=__version__,
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(BadInput)
    async def _bad_input(_request: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(_page(), headers={
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                                       "style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'",
            "X-Content-Type-Options": "nosniff"})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "modality": model.modality, "classes": len(model.classes)}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        return model.metadata(max_request_bytes, api_key is not None)

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            try:
                payload = json.loads(await request.body())
            except RecursionError:
                raise BadInput("The JSON body is nested too deeply to read; send "
                               f"{model._expect()}.") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadInput(f"The request body is not valid JSON ({exc}).") from None
            except ValueError:  # the one other error of json.loads: an integer over 4300 digits
                raise BadInput("The request body is not valid JSON for a model: it holds an integer "
                               "of more than 4300 digits.") from None
            items = await run_in_threadpool(model.items_from_json, payload)
        elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            try:
                items = await model.items_from_form(request)
            except BadInput:
                raise
            except Exception as exc:  # malformed multipart bodies raise parser-specific errors
                raise BadInput(f"The multipart body cannot be parsed ({exc}).") from None
        else:
            raise BadInput(f"Unsupported Content-Type '{ctype or 'none'}'. Send application/json or "
                           f"multipart/form-data: {model._expect()}.", status=415)
        predictions = await run_in_threadpool(model.predict, items)
        return {"predictions": predictions, "classes": model.classes}

    return _Guard(app, api_key, max_request_bytes)


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, max_batch: int = DEFAULT_MAX_BATCH,
          log_level: str = "info", max_pixels: int = DEFAULT_MAX_PIXELS,
          max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS, device: Any = "auto") -> None:
    """Serve ``run_dir`` with uvicorn until interrupted (loopback only by default)."""
    import uvicorn

    app = create_app(run_dir, api_key=api_key, max_request_bytes=max_request_bytes, max_batch=max_batch,
                     max_pixels=max_pixels, max_request_pixels=max_request_pixels, device=device)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
