"""How many threads NumPy/SciPy linear algebra may use beside torch.

OpenBLAS starts one thread per core and its threads spin while they wait for each other;
beside torch's own pool, or on a machine whose cores other processes hold, that
oversubscription made LogME on 1,000 x 1,280 features take 13.6 s instead of 0.14 s. Every
place where NumPy/SciPy linear algebra runs beside torch (the transferability scores, the
shallow adaptation methods, the convex head) runs inside :func:`blas_threads`, which pins
the BLAS pools to the process's thread budget:

- at most ``torch.get_num_threads()`` (what ``torch.set_num_threads`` or
  ``OMP_NUM_THREADS`` gave this process), and ``TRANSFERKIT_BLAS_THREADS`` when set;
- at most the cores that are free now: the cores this process may run on minus the
  one-minute load average of the others (never below 1), so a loaded machine gets one
  thread per problem instead of a pile of spinning ones.

>>> with blas_threads():  # doctest: +SKIP
...     np.linalg.eigh(f.T @ f)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

ENV = "TRANSFERKIT_BLAS_THREADS"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical CPU cores (hyper-threads do not speed up dense kernels)."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:
        n = None
    n = n or os.cpu_count() or 1
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else n
    return max(1, min(n, affinity))


def process_cores() -> int:
    """This process's share of the physical cores: :func:`physical_cores` divided among the
    processes ``accelerate launch`` started on this machine (``LOCAL_WORLD_SIZE``)."""
    local = os.environ.get("LOCAL_WORLD_SIZE", "1").strip()
    return max(1, physical_cores() // (int(local) if local.isdigit() and int(local) > 0 else 1))


def thread_budget() -> int:
    """Threads the BLAS pools may use now (>= 1); see the module docstring."""
    budget = _cores()
    try:
        import torch

        budget = min(budget, max(1, torch.get_num_threads()))
    except ImportError:
        pass
    for name in (ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            budget = min(budget, int(value))
            break
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return budget
    free = int(_cores() - load + 1)  # + 1: this process's own running thread is in the load
    return max(1, min(budget, free))


@contextlib.contextmanager
def blas_threads(limit: int | None = None) -> Iterator[int]:
    """Limit NumPy/SciPy's BLAS thread pools to ``limit`` (default :func:`thread_budget`)
    while the block runs; yields the limit. A no-op when threadpoolctl is missing."""
    n = thread_budget() if limit is None else max(1, int(limit))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield n
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield n


#: Multiply-adds of one forward step (dense weights x batch rows) below which torch's second
#: intra-op thread only adds synchronisation. Measured: an MLP of 175 -> 128 -> 64 -> 3 at
#: batch 32 (about 1M) took 1.2-1.9 ms per training step on one thread and 230-310 ms on two
#: on a 2-core machine at load 10 (each tiny kernel waits for a descheduled second thread).
SMALL_STEP_MACS = 1 << 23


def small_dense_step(model: Any, batch_size: int) -> bool:
    """Whether one training step of ``model`` is a few small dense matmuls: every module
    holding weights is a ``Linear`` layer (or a norm / embedding lookup, which do no
    matmul), and its multiply-adds per step (``Linear`` weights x ``batch_size``) stay below
    :data:`SMALL_STEP_MACS`. Such a step runs fastest on one intra-op thread; anything with
    convolutions or attention of its own kernels is never called small here."""
    from torch import nn

    light = (nn.LayerNorm, nn.Embedding, nn.modules.batchnorm._NormBase)
    macs = 0
    for module in model.modules():
        if next(module.parameters(recurse=False), None) is None:
            continue
        if isinstance(module, nn.Linear):
            macs += module.weight.numel()
        elif not isinstance(module, light):
            return False
    return macs * max(1, int(batch_size)) < SMALL_STEP_MACS


__all__ = ["SMALL_STEP_MACS", "blas_threads", "physical_cores", "process_cores", "small_dense_step",
           "thread_budget"]
