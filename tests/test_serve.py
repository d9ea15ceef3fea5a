"""The prediction server, tested over real HTTP on loopback (uvicorn in a thread)."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from report.factory import make_run  # noqa: E402

KEY = "s3cret-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on a free loopback port, in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, monkeypatch_module) -> tuple[Path, object]:
    return make_run(tmp_path_factory.mktemp("serve-image"), "timm")


@pytest.fixture(scope="module")
def monkeypatch_module(tmp_path_factory) -> Iterator[pytest.MonkeyPatch]:
    mp = pytest.MonkeyPatch()
    mp.setenv("TRANSFERKIT_RUNS_INDEX", str(tmp_path_factory.mktemp("idx") / "index.sqlite"))
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def image_server(image_run) -> Iterator[LiveServer]:
    from transferkit.serve import create_app

    with LiveServer(create_app(image_run[0], api_key=KEY, max_request_bytes=64 * 1024, max_batch=8)) as srv:
        yield srv


@pytest.fixture(scope="module")
def text_server(tmp_path_factory, monkeypatch_module) -> Iterator[tuple[LiveServer, Path]]:
    from transferkit.serve import create_app

    run, _ = make_run(tmp_path_factory.mktemp("serve-text"), "text")
    with LiveServer(create_app(run)) as srv:
        yield srv, run


@pytest.fixture(scope="module")
def table_server(tmp_path_factory, monkeypatch_module) -> Iterator[tuple[LiveServer, object]]:
    from transferkit.serve import create_app

    run, data = make_run(tmp_path_factory.mktemp("serve-table"), "tabular")
    with LiveServer(create_app(run)) as srv:
        yield srv, data


def _h() -> dict[str, str]:
    return {"X-API-Key": KEY}


def test_image_predict_multipart_and_base64_agree_with_load(image_server, image_run):
    from transferkit.jobs.predict import load

    run, data = image_run
    imgs = [data.input(i) for i in range(3)]
    files = [("files", (f"{i}.png", _png(a), "image/png")) for i, a in enumerate(imgs)]
    r = httpx.post(f"{image_server.url}/predict", files=files, headers=_h())
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 3
    expected = load(run).predict_proba(imgs)
    for p, e in zip(preds, expected, strict=True):
        assert p["class"] == data.classes[int(e.argmax())]
        assert np.allclose([p["probabilities"][c] for c in data.classes], e, atol=1e-5)
    b64 = [base64.b64encode(_png(a)).decode() for a in imgs]
    b64[1] = "data:image/png;base64," + b64[1]  # data URIs are accepted too
    r2 = httpx.post(f"{image_server.url}/predict", json={"images": b64}, headers=_h())
    assert r2.status_code == 200, r2.text
    assert [p["class"] for p in r2.json()["predictions"]] == [p["class"] for p in preds]


def test_api_key_missing_or_wrong_is_401_and_page_is_open(image_server):
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}):
        for method, path in (("GET", "/health"), ("GET", "/metadata"), ("POST", "/predict")):
            r = httpx.request(method, f"{image_server.url}{path}", headers=headers, json={"images": []})
            assert r.status_code == 401, (method, path, headers, r.text)
            assert "X-API-Key" in r.json()["detail"]
    page = httpx.get(f"{image_server.url}/")
    assert page.status_code == 200 and "<form" in page.text
    assert httpx.get(f"{image_server.url}/health", headers=_h()).json()["status"] == "ok"


def test_corrupt_image_bad_base64_and_wrong_shapes_are_4xx(image_server):
    url = f"{image_server.url}/predict"
    corrupt = _png(np.zeros((8, 8, 3), np.uint8))[:30]
    r = httpx.post(url, files=[("files", ("broken.png", corrupt, "image/png"))], headers=_h())
    assert r.status_code == 400 and "broken.png" in r.json()["detail"]
    r = httpx.post(url, json={"images": ["not base64 !!"]}, headers=_h())
    assert r.status_code == 400 and "images[0]" in r.json()["detail"]
    r = httpx.post(url, json={"texts": ["hello"]}, headers=_h())
    assert r.status_code == 400 and "image" in r.json()["detail"]
    r = httpx.post(url, json=["a list"], headers=_h())
    assert r.status_code == 400
    r = httpx.post(url, content=b"{not json", headers={**_h(), "Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["detail"]
    r = httpx.post(url, content=b"x", headers={**_h(), "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = httpx.post(url, json={"images": []}, headers=_h())
    assert r.status_code == 400 and "no inputs" in r.json()["detail"]


def test_size_and_batch_limits_are_413(image_server):
    url = f"{image_server.url}/predict"
    big = base64.b64encode(b"\0" * 70_000).decode()
    r = httpx.post(url, json={"images": [big]}, headers=_h())
    assert r.status_code == 413 and "at most 65536 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while reading the stream
        for _ in range(20):
            yield b"x" * 8192

    r = httpx.post(url, content=chunks(), headers={**_h(), "Content-Type": "application/json"})
    assert r.status_code == 413
    small = base64.b64encode(_png(np.zeros((4, 4, 3), np.uint8))).decode()
    r = httpx.post(url, json={"images": [small] * 9}, headers=_h())
    assert r.status_code == 413 and "at most 8" in r.json()["detail"]


def test_metadata_describes_the_model(image_server, image_run):
    meta = httpx.get(f"{image_server.url}/metadata", headers=_h()).json()
    assert meta["modality"] == "image" and meta["classes"] == list(image_run[1].classes)
    assert meta["api_key_required"] is True and meta["limits"]["max_batch"] == 8
    assert "accuracy" in meta["metrics"]["test"]


def test_text_server_batches_and_rejects_wrong_types(text_server):
    srv, run = text_server
    from transferkit.jobs.predict import load

    texts = ["the coffee is great", "awful taste", "bad product"]
    r = httpx.post(f"{srv.url}/predict", json={"texts": texts})
    assert r.status_code == 200, r.text
    expected = load(run).predict(texts)
    assert [p["class"] for p in r.json()["predictions"]] == expected
    r = httpx.post(f"{srv.url}/predict", data={"texts": "great food"})  # a plain HTML form post
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1
    r = httpx.post(f"{srv.url}/predict", json={"texts": ["ok", 3]})
    assert r.status_code == 400 and "texts[1]" in r.json()["detail"]
    r = httpx.post(f"{srv.url}/predict", files=[("files", ("a.png", b"123", "image/png"))])
    assert r.status_code == 400 and "texts" in r.json()["detail"]


def test_table_server_checks_columns(table_server):
    srv, data = table_server
    row = {"age": 41.0, "income": 52000.0, "student": "yes"}
    r = httpx.post(f"{srv.url}/predict", json={"rows": [row, {**row, "student": "no"}]})
    assert r.status_code == 200, r.text
    assert {p["class"] for p in r.json()["predictions"]} <= set(data.classes)
    r = httpx.post(f"{srv.url}/predict", json={"rows": [{"age": 3.0}]})
    assert r.status_code == 400 and "income" in r.json()["detail"]
    r = httpx.post(f"{srv.url}/predict", json={"rows": [{**row, "age": "old"}]})
    assert 400 <= r.status_code < 500


def test_create_app_validates_its_parameters(image_run):
    from transferkit.errors import ConfigError, RunDirError
    from transferkit.serve import create_app

    with pytest.raises(ConfigError, match="max_request_bytes"):
        create_app(image_run[0], max_request_bytes=10)
    with pytest.raises(ConfigError, match="api_key"):
        create_app(image_run[0], api_key="  ")
    with pytest.raises(RunDirError):
        create_app(image_run[0] / "missing")


def test_cli_binds_loopback_by_default():
    from transferkit.cli import build_parser

    args = build_parser().parse_args(["serve", "runs/x"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.api_key is None


@pytest.mark.browser
def test_browser_page_uploads_an_image_and_shows_the_prediction(image_run, tmp_path):
    from report.browser import chrome

    from transferkit.serve import create_app

    run, data = image_run
    from transferkit.jobs.predict import load

    expected = load(run).predict([data.input(0)])[0]
    img = tmp_path / "upload.png"
    img.write_bytes(_png(data.input(0)))
    with LiveServer(create_app(run)) as srv, chrome(tmp_path) as driver:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        driver.get(srv.url + "/")
        wait = WebDriverWait(driver, 20)
        wait.until(ec.visibility_of_element_located((By.ID, "file")))
        driver.find_element(By.ID, "file").send_keys(str(img))
        driver.find_element(By.ID, "submit").click()
        shown = wait.until(ec.visibility_of_element_located((By.ID, "prediction")))
        assert shown.text == expected
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


@pytest.mark.browser
def test_browser_page_classifies_pasted_text(text_server, tmp_path):
    from report.browser import chrome

    from transferkit.jobs.predict import load

    srv, run = text_server
    text = "i love this tea very much"
    expected = load(run).predict([text])[0]
    with chrome(tmp_path) as driver:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        driver.get(srv.url + "/")
        wait = WebDriverWait(driver, 20)
        wait.until(ec.visibility_of_element_located((By.ID, "text"))).send_keys(text)
        driver.find_element(By.ID, "submit").click()
        assert wait.until(ec.visibility_of_element_located((By.ID, "prediction"))).text == expected
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
