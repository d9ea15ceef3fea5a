"""Uncertainty of the numbers a run reports: bootstrap confidence intervals for a test
metric, and paired tests of the difference between two models on the same test examples.

- :func:`bootstrap_ci`: percentile bootstrap (Efron & Tibshirani 1993), resampling test
  examples with replacement -- within each class when ``strata`` are given, so every
  resample keeps the test set's class counts.
- :func:`paired_bootstrap`: the same resamples applied to both models' outputs; the CI of
  the difference, and a two-sided p-value ``2 * min(P(d* <= 0), P(d* >= 0))``.
- :func:`mcnemar`: McNemar's exact test (McNemar 1947) on the discordant pairs of two
  classifiers' correctness, ``p = binomtest(b, b + c, 0.5)`` (scipy), the test of choice for
  accuracy differences on one shared test set (Dietterich 1998).
- :func:`verdict`: the plain-words sentence that follows the test, never "negative
  transfer" for a difference the test cannot tell from zero.

All resampling is seeded; the same inputs give the same intervals.

>>> import numpy as np
>>> y = np.array([0, 1] * 50)
>>> acc = lambda y, p: float((p == y).mean())
>>> lo, hi = bootstrap_ci(acc, y, y.copy(), seed=0)
>>> (lo, hi)
(1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from transferkit.errors import ConfigError

#: the confidence level every interval is stated at, unless asked otherwise
LEVEL = 0.95
#: bootstrap resamples
N_BOOT = 1000
#: a difference is "detectable" when its two-sided p-value is below this
ALPHA = 0.05


def _check(level: float, n_boot: int) -> None:
    if not 0.0 < level < 1.0:
        raise ConfigError(f"The 'level' parameter must be in (0, 1). Got {level!r} instead.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 10:
        raise ConfigError(f"The 'n_boot' parameter must be an int >= 10. Got {n_boot!r} instead.")


def resample_indices(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """``(n_boot, n)`` bootstrap index sets; with ``strata``, each stratum is resampled
    within itself (its size kept)."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n))
    strata = np.asarray(strata)
    if len(strata) != n:
        raise ConfigError(f"The 'strata' parameter must have one entry per example ({n}). "
                          f"Got {len(strata)} instead.")
    out = np.empty((n_boot, n), dtype=np.int64)
    for value in np.unique(strata):
        where = np.flatnonzero(strata == value)
        out[:, where] = where[rng.integers(0, len(where), size=(n_boot, len(where)))]
    return out


#: index sets drawn at once: (n_boot, n) int64 above this many cells is drawn in blocks of
#: bootstrap rounds (1,000 rounds of a 1M-row test set would be 8 GB at once)
RESAMPLE_CELLS = 1 << 24


def iter_resamples(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """The ``n_boot`` index sets of :func:`resample_indices`, one at a time. Up to
    :data:`RESAMPLE_CELLS` cells they are exactly its rows; above, they are drawn
    ``RESAMPLE_CELLS // n`` rounds at a time (the same seeded scheme, another draw order),
    so memory stays at about 128 MiB of indices whatever the test set's size."""
    if n_boot * n <= RESAMPLE_CELLS:
        yield from resample_indices(n, n_boot, seed, strata)
        return
    block = max(1, RESAMPLE_CELLS // max(n, 1))
    seeds = np.random.SeedSequence(seed).spawn((n_boot + block - 1) // block)
    for b, start in enumerate(range(0, n_boot, block)):
        child = int(seeds[b].generate_state(1)[0])
        yield from resample_indices(n, min(block, n_boot - start), child, strata)


def bootstrap_ci(metric: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
                 outputs: np.ndarray, *, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0,
                 strata: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y, outputs)`` over test examples."""
    _check(level, n_boot)
    y, outputs = np.asarray(y), np.asarray(outputs)
    if len(y) == 0:
        return float("nan"), float("nan")
    values = np.array([metric(y[i], outputs[i]) for i in iter_resamples(len(y), n_boot, seed, strata)],
                      dtype=np.float64)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def paired_bootstrap(metric: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
                     outputs_a: np.ndarray, outputs_b: np.ndarray, *, level: float = LEVEL,
                     n_boot: int = N_BOOT, seed: int = 0,
                     strata: np.ndarray | None = None) -> dict[str, float]:
    """The difference ``metric(a) - metric(b)`` on one test set, with its bootstrap CI and
    two-sided p-value (both models see the same resampled examples)."""
    _check(level, n_boot)
    y, a, b = np.asarray(y), np.asarray(outputs_a), np.asarray(outputs_b)
    if not len(y) == len(a) == len(b):
        raise ConfigError(f"A paired test needs both models' outputs on the same {len(y)} examples. "
                          f"Got {len(a)} and {len(b)}.")
    diff = float(metric(y, a) - metric(y, b))
    if len(y) == 0:
        return {"diff": diff, "ci_low": float("nan"), "ci_high": float("nan"), "p_value": 1.0}
    d = np.array([metric(y[i], a[i]) - metric(y[i], b[i]) for i in iter_resamples(len(y), n_boot, seed, strata)],
                 dtype=np.float64)
    tail = (1.0 - level) / 2.0
    p = min(1.0, 2.0 * min(float((d <= 0).mean()), float((d >= 0).mean())))
    return {"diff": diff, "ci_low": float(np.quantile(d, tail)),
            "ci_high": float(np.quantile(d, 1.0 - tail)), "p_value": p}


def sign_flip_test(diffs: np.ndarray, *, n_perm: int = N_BOOT, seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip permutation test (Fisher-Pitman) that the
    mean of the per-unit differences ``diffs`` is zero: each difference keeps or flips its
    sign, over all ``2^n`` patterns when that is at most ``n_perm`` (exact), else ``n_perm``
    random ones (scipy's ``permutation_test``). Unlike a bootstrap p-value it respects the
    sample size: with ``n`` units it cannot go below ``2 / 2^n`` (2 windows: 0.5), however
    consistent they are; 1.0 with no units or all differences zero."""
    from scipy.stats import permutation_test

    _check(LEVEL, n_perm)
    d = np.asarray(diffs, dtype=np.float64).ravel()
    if not len(d) or not np.any(d):
        return 1.0
    result = permutation_test((d,), np.mean, permutation_type="samples", alternative="two-sided",
                              n_resamples=n_perm, random_state=seed)
    return float(min(1.0, result.pvalue))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float]:
    """McNemar's exact test: ``b`` = examples only model A gets right, ``c`` = only B;
    ``p = binomtest(b, b + c, 0.5)`` (two-sided); 1.0 when the models never disagree."""
    from scipy.stats import binomtest

    a, b_ = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape:
        raise ConfigError(f"McNemar's test needs both models' correctness on the same examples. "
                          f"Got shapes {a.shape} and {b_.shape}.")
    only_a, only_b = int((a & ~b_).sum()), int((~a & b_).sum())
    p = 1.0 if only_a + only_b == 0 else float(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p_value": p}


def verdict(diff: float, ci: tuple[float, float], p_value: float, *, what: str = "transfer",
            baseline: str = "scratch", unit: str = "points", scale: float = 100.0,
            level: float = LEVEL, alpha: float = ALPHA, test: str = "",
            subject: str = "the transferred model", better: str = "helped",
            worse: str = "negative transfer",
            advice: str = "Transfer did not help here; try another backbone or strategy, or train "
                          "without transfer.") -> tuple[str, str]:
    """``(kind, sentence)``: ``helped`` / ``no detectable difference`` / ``negative`` and the
    sentence a user reads, e.g. "transfer helped (+4.7 points over scratch, 95 % CI +1.2 …
    +8.1, McNemar p = 0.012)". ``kind`` is decided by ``p_value < alpha`` and the sign.
    ``what`` and ``better`` open the sentence; ``worse``, ``subject`` and ``advice`` word the negative one
    (adapt says "adaptation", "the adapted model" and what to try instead; a plain baseline
    is not a transfer comparison, so it says "below a plain baseline")."""
    lo, hi = ci
    detail = (f"{diff * scale:+.1f} {unit} vs {baseline}, {level * 100:.0f} % CI "
              f"{lo * scale:+.1f} … {hi * scale:+.1f}, {test + ' ' if test else ''}{format_p(p_value)}")
    if p_value >= alpha:
        return "no detectable difference", f"{what}: no detectable difference ({detail})"
    if diff > 0:
        return "helped", f"{what} {better} ({detail})"
    return "negative", (f"{worse}: {subject} is worse than the {baseline} "
                        f"baseline ({detail}). {advice}")


def format_p(p_value: float) -> str:
    """``"p = 0.012"``, or ``"p < 0.001"`` (a p-value that small is not read by its digits)."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3g}"


__all__ = ["ALPHA", "LEVEL", "N_BOOT", "bootstrap_ci", "format_p", "mcnemar", "paired_bootstrap",
           "iter_resamples", "resample_indices", "sign_flip_test", "verdict"]
