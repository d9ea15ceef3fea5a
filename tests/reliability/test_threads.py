"""BLAS thread pools pinned to the process's thread budget wherever NumPy/SciPy linear
algebra runs beside torch (issue 24: LogME took 13.6 s instead of 0.14 s on a loaded
machine). Timings are in benchmarks/blas_threads.py; here, the pinning itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

import transferkit._threads as threads


def _blas_threads_now() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_the_budget_honours_torch_the_environment_and_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_cores", lambda: 16)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 6)
    assert threads.thread_budget() == 6  # torch's budget on an idle 16-core machine
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.thread_budget() == 3
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.thread_budget() == 2
    monkeypatch.delenv(threads.ENV)
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (13.0, 0.0, 0.0))
    assert threads.thread_budget() == 4  # 16 cores, 12 held by others
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (40.0, 0.0, 0.0))
    assert threads.thread_budget() == 1  # never below one


def test_scores_and_shallow_methods_run_with_pinned_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    from transferkit.ranking.logme import LogMEScore
    from transferkit.shallow.coral import CORALTransform

    if not _blas_threads_now():
        pytest.skip("no BLAS thread pool that threadpoolctl can see")
    monkeypatch.setenv(threads.ENV, "1")
    seen: list[list[int]] = []
    for cls, method in ((LogMEScore, "_score"), (CORALTransform, "_fit")):
        real = getattr(cls, method)

        def spy(self, *a, _real=real, **k):
            seen.append(_blas_threads_now())
            return _real(self, *a, **k)

        monkeypatch.setattr(cls, method, spy)
    rng = np.random.default_rng(0)
    f, y = rng.normal(size=(40, 8)), np.arange(40) % 2
    LogMEScore().score(f, y)
    CORALTransform().fit(f, rng.normal(size=(30, 8)))
    assert len(seen) == 2 and all(n == [1] * len(n) for n in seen), seen
