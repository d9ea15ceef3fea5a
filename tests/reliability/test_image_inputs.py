"""Image decoding that must not depend on the image's own pixels (M5), pixel budgets
checked from the header before decoding (H4, large images), and odd image inputs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _encoded(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_images_are_scaled_by_their_bit_depth_not_their_maximum(fmt: str) -> None:
    from transferkit.data.decode import read_image

    base = np.full((6, 6), 32896, np.uint16)  # 32896 / 257 = 128 exactly
    for corner in (0, 200, 255, 256, 65535):  # one pixel decides nothing about the others
        img = base.copy()
        img[0, 0] = corner
        out = read_image(_encoded(img, fmt))
        assert out.dtype == np.uint8
        assert (out[1:, 1:] == 128).all(), (corner, out)
        assert out[0, 0] == round(corner / 257)
    dark = np.full((3, 3), 200, np.uint16)  # a dark 16-bit image stays dark
    assert read_image(_encoded(dark, fmt)).max() == 1


def test_32_bit_tiff_is_scaled_by_its_declared_range() -> None:
    from transferkit.data.decode import read_image

    img = np.full((4, 4), 2 ** 30, np.int32)
    img[0, 0] = 2 ** 31 - 1
    out = read_image(_encoded(img, "TIFF"))
    assert out[1, 1] == 128 and out[0, 0] == 255


# ----------------------------------------------------------------------------- pixel budgets (H4)


def _huge_png(width: int, height: int) -> bytes:
    """A PNG of width x height black pixels: a few KB that decode to width*height bytes."""
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG")
    return buf.getvalue()


def test_a_large_valid_image_is_refused_from_its_header_not_as_corrupt_and_can_be_allowed(
        tmp_path: Path) -> None:
    from reliability.helpers import IMG, assert_user_error, cli, write_image_folder

    root = write_image_folder(tmp_path / "imgs", per_class=3)
    big = root / "cat" / "big.png"
    big.write_bytes(_huge_png(2500, 1200))  # 3 MP
    res = cli("fit", "--data", root, *IMG, "--out", tmp_path / "run", "--max-megapixels", "2.5")
    assert_user_error(res, "big.png", "2500×1200 = 3.0 megapixels", "limit of 2.5 megapixels",
                      "not corrupt", "--max-megapixels")
    assert "corrupt, truncated" not in res.err
    from transferkit.data import load_splits

    splits = load_splits(str(root), max_megapixels=3.5)  # the override lets it in
    parts = (splits.train, splits.val, splits.test)
    assert max(np.asarray(p.input(i)).size for p in parts for i in range(len(p))) == 2500 * 1200


def test_pillows_own_bomb_limit_is_replaced_by_ours() -> None:
    from transferkit.data.decode import PixelLimitError, image_pixels

    data = _huge_png(14000, 14000)  # 196 MP: Pillow alone refuses it as a "decompression bomb"
    with pytest.raises(PixelLimitError, match="196.0 megapixels.*limit of 100 megapixels.*not corrupt"):
        image_pixels(data, "x.png", 100_000_000)
    assert image_pixels(data, "x.png", 200_000_000) == 196_000_000  # allowed when asked for


@pytest.fixture(scope="module")
def image_client(tmp_path_factory: pytest.TempPathFactory):
    from fastapi.testclient import TestClient

    from reliability.helpers import IMG, assert_ok, cli, write_image_folder
    from transferkit.serve import create_app

    tmp = tmp_path_factory.mktemp("serve-pixels")
    run = tmp / "run"
    assert_ok(cli("fit", "--data", write_image_folder(tmp / "imgs", per_class=3), *IMG, "--out", run))
    return TestClient(create_app(run, max_pixels=20_000_000, max_request_pixels=30_000_000))


def test_the_server_refuses_over_budget_images_before_decoding_them(image_client, monkeypatch) -> None:
    import transferkit.data.decode as decode

    decoded = []
    real = decode.read_image
    monkeypatch.setattr(decode, "read_image", lambda *a, **k: decoded.append(1) or real(*a, **k))
    big = _huge_png(5000, 5000)  # 25 MP in ~30 KB
    reply = image_client.post("/predict", files=[("files", ("big.png", big, "image/png"))])
    assert reply.status_code == 413
    assert "big.png" in reply.json()["detail"] and "5000×5000" in reply.json()["detail"]
    assert "--max-megapixels" in reply.json()["detail"]
    medium = _huge_png(4000, 2500)  # 10 MP each: two pass, four are 40 MP > 30 MP per request
    import base64
    payload = {"images": [base64.b64encode(medium).decode()] * 4}
    reply = image_client.post("/predict", json=payload)
    assert reply.status_code == 413 and "40.0 megapixels in all" in reply.json()["detail"]
    assert decoded == []  # nothing was decoded for the refused requests
    small = _encoded(np.full((32, 32, 3), 128, np.uint8))
    ok = image_client.post("/predict", files=[("files", ("a.png", small, "image/png"))] * 2)
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
    assert len(decoded) == 2  # the spy sees decoding when it happens
    limits = image_client.get("/metadata").json()["limits"]
    assert limits["max_pixels"] == 20_000_000 and limits["max_request_pixels"] == 30_000_000


def test_serve_starts_with_a_corrupt_optional_summary(tmp_path: Path, table_run: Path) -> None:
    import shutil

    from fastapi.testclient import TestClient

    from transferkit.serve import create_app

    run = tmp_path / "run"
    shutil.copytree(table_run, run)
    (run / "summary.json").write_text("{not json")
    with pytest.warns(UserWarning, match="summary.json' cannot be read"):
        client = TestClient(create_app(run))
    assert client.get("/metadata").status_code == 200
    reply = client.post("/predict", json={"rows": [{"f0": 1, "f1": 2, "f2": 3, "f3": 4}]})
    assert reply.status_code == 200
