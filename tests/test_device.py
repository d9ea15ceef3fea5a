"""--device: one rule for every job, clear errors for a device that is not there, and the
whole fit -> predict -> evaluate -> adapt path on each accelerator the machine has
(skipped where there is none; the CPU path is what every other test runs)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch

import transferkit as tk
from transferkit.devices import check_device_name, resolve_device
from transferkit.errors import ConfigError


def test_auto_is_the_cpu_without_an_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1", "tpu", ""])
def test_a_bad_device_name_is_an_error_naming_the_forms(name):
    with pytest.raises(ConfigError, match=r"'device' parameter must be one of auto, cpu, cuda, cuda:N or mps"):
        check_device_name(name)


def test_a_missing_device_is_an_error_not_a_silent_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="asks for 'cuda:1', but torch sees no CUDA device.*--device auto"):
        resolve_device("cuda:1")
    with pytest.raises(ConfigError, match="'mps'.*not available"):
        resolve_device("mps")


def test_the_device_flag_is_a_train_option_checked_when_the_config_is_built():
    from transferkit.jobs.fit import resolve_config

    assert resolve_config(data="digits", device="cpu").train.device == "cpu"
    with pytest.raises(ConfigError, match="must be one of auto, cpu, cuda"):
        resolve_config(data="digits", device="gpu0")


def _table(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                       "y": np.where(x[:, 0] + x[:, 1] > 0, "pos", "neg")})
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    return path, df


def _accelerators() -> list[str]:
    found = ["cuda"] if torch.cuda.is_available() else []
    if torch.backends.mps.is_available():
        found.append("mps")
    return found or ["none"]


@pytest.mark.parametrize("device", _accelerators())
def test_fit_predict_evaluate_adapt_on_the_accelerator(device, tmp_path):
    if device == "none":
        pytest.skip("no GPU or MPS device on this machine (the CPU path runs in every other test)")
    path, df = _table(tmp_path)
    run = tk.fit(data=str(path), label_column="y", backbone="tabular", strategy="full", epochs=3,
                 device=device, out=str(tmp_path / "run"), log=None)
    model = tk.load(run.run_dir, device=device)
    assert model.device.type == device
    assert len(model.predict(df.drop(columns="y").head(5))) == 5
    assert tk.evaluate(run.run_dir, device=device)["accuracy"] >= 0
    adapted = tk.adapt(source=str(path), target=str(path), label_column="y", method="coral",
                       backbone="tabular", device=device, epochs=2, out=str(tmp_path / "adapt"), log=None)
    assert adapted.summary["metrics"]["test"]


def test_predict_on_the_cpu_device_from_the_cli(tmp_path, capsys):
    from transferkit.cli import main

    path, _ = _table(tmp_path)
    run = tk.fit(data=str(path), label_column="y", backbone="tabular", strategy="full", epochs=2,
                 out=str(tmp_path / "run"), log=None)
    assert main(["predict", str(run.run_dir), str(path), "--device", "cpu"]) == 0
    assert "pos" in capsys.readouterr().out
    assert main(["predict", str(run.run_dir), str(path), "--device", "cuda:7"]) == 2


@pytest.mark.parametrize("device", _accelerators())
def test_image_fit_extract_and_predict_on_the_accelerator(device, tmp_path):
    if device == "none":
        pytest.skip("no GPU or MPS device on this machine (the CPU path runs in every other test)")
    from transferkit.features import extract_features

    data = tk.data.load("digits", split="test")
    on_device = extract_features("efficientnet_lite0", data, device=device, use_cache=False)
    on_cpu = extract_features("efficientnet_lite0", data, device="cpu", use_cache=False, backend="torch")
    # cuDNN convolutions may run in TF32 on the GPU (PyTorch's default): close, not bit-equal
    cosine = (on_device * on_cpu).sum(1) / (np.linalg.norm(on_device, axis=1) * np.linalg.norm(on_cpu, axis=1))
    worst = np.abs(on_device - on_cpu).max()
    assert cosine.min() > 0.999 and worst < 0.05 * np.abs(on_cpu).max(), (cosine.min(), worst)
    for strategy in ("linear-probe", "full"):
        run = tk.fit(data="digits", backbone="efficientnet_lite0", strategy=strategy, shots=5, epochs=1,
                     image_size=32, device=device, out=str(tmp_path / strategy), log=None)
        assert tk.load(run.run_dir, device=device).predict_proba(data.x[:3]).shape == (3, 10)


@pytest.mark.parametrize("device", _accelerators())
def test_series_forecasting_and_fracast_fine_tuning_on_the_accelerator(device, tmp_path):
    if device == "none":
        pytest.skip("no GPU or MPS device on this machine (the CPU path runs in every other test)")
    from transferkit.tasks import TASKS

    # forecasting: a 1D CNN trained end to end on the device, then loaded there and predicting
    data = TASKS.get("forecasting").tiny_example(tmp_path)
    run = tk.fit(**{**data, "epochs": 2}, task="forecasting", device=device, seed=0,
                 out=str(tmp_path / "forecast"), log=None)
    assert np.isfinite(run.summary["metrics"]["test"]["mase"])
    model = tk.load(run.run_dir, device=device)
    t = np.arange(60, dtype=np.float32)
    assert np.isfinite(np.asarray(model.predict([(10 + np.sin(t / 2))[:, None]]), dtype=float)).all()
    if importlib.util.find_spec("fracast") is None:
        pytest.skip("the fracast package is not installed")
    # Fracast-0: the same features on the device as on the CPU, then fine-tuned end to end there
    from transferkit.backbones.fracast import FracastBackbone

    rng = np.random.default_rng(0)
    x = (np.sin(np.arange(48) / 3)[None, :, None] + rng.normal(0, 0.3, size=(40, 48, 1))).astype(np.float32)
    x[20:] += np.linspace(0, 2, 48, dtype=np.float32)[None, :, None]  # class 1 trends upwards
    y = np.repeat([0, 1], 20)
    bb = FracastBackbone()
    bb.adapt_to(list(x))
    batch = bb.collate(list(x[:8]))
    with torch.inference_mode():
        on_cpu = bb.eval()(batch)
        on_device = bb.to(device)({k: v.to(device) for k, v in batch.items()}).cpu()
    assert torch.allclose(on_cpu, on_device, rtol=1e-3, atol=1e-3)
    np.savez(tmp_path / "series.npz", x=x, y=y)
    run = tk.fit(data=str(tmp_path / "series.npz"), backbone="fracast", strategy="full", epochs=2,
                 batch_size=8, device=device, seed=0, out=str(tmp_path / "fracast"), log=None)
    assert run.summary["metrics"]["test"]["accuracy"] >= 0
    assert tk.load(run.run_dir, device=device).predict_proba(list(x[:3])).shape == (3, 2)
    # TS2's pretrained path, lags+fracast probed: Fracast's features on the device, the ridge's
    # choice and its test MASE as on the CPU
    probe = {**data, "backbone": "lags+fracast", "strategy": "linear-probe"}
    runs = [tk.fit(**probe, task="forecasting", device=d, seed=0, out=str(tmp_path / f"lf-{d}"), log=None)
            for d in (device, "cpu")]
    solved = [r.summary["stages"][0]["solver"] for r in runs]
    assert solved[0]["prior"] == solved[1]["prior"], solved
    mase = [r.summary["metrics"]["test"]["mase"] for r in runs]
    assert mase[0] == pytest.approx(mase[1], rel=0.02), mase


def test_cpu_has_native_bf16_reads_the_flags_line(tmp_path):
    from transferkit.devices import cpu_has_native_bf16

    amx, plain = tmp_path / "amx", tmp_path / "plain"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n", encoding="utf-8")
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n", encoding="utf-8")
    assert cpu_has_native_bf16(str(amx)) is True
    assert cpu_has_native_bf16(str(plain)) is False  # avx512_bf16 converts, AMX multiplies
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is False


def test_bf16_tip_is_logged_once_for_text_extraction_in_float32(monkeypatch):
    from types import SimpleNamespace

    import transferkit.devices as devices
    from transferkit.pipeline.stages import StageRunner

    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda cpuinfo="": True)
    lines: list[str] = []

    def stages(bf16: bool, device: str = "cpu") -> SimpleNamespace:
        return SimpleNamespace(_tipped=False, log=lines.append,
                               cfg=SimpleNamespace(train=SimpleNamespace(bf16=bf16, device=device)))

    text, image, many = SimpleNamespace(modality="text"), SimpleNamespace(modality="image"), [0] * 300
    s = stages(False)
    StageRunner._bf16_tip(s, text, many)
    StageRunner._bf16_tip(s, text, many)
    assert len(lines) == 1 and "--mixed-precision bf16" in lines[0]
    for case, backbone, data in ((stages(True), text, many), (stages(False), image, many),
                                 (stages(False), text, [0] * 10), (stages(False, "cuda"), text, many)):
        StageRunner._bf16_tip(case, backbone, data)
    assert len(lines) == 1
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda cpuinfo="": False)
    StageRunner._bf16_tip(stages(False), text, many)
    assert len(lines) == 1
