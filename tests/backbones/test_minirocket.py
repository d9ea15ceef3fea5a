"""MiniRocket against a direct, hand-written computation of its formula on tiny series."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferkit.backbones.minirocket import KERNELS, MiniRocketBackbone, fit_dilations, quantile_levels


def _hand_features(bb: MiniRocketBackbone, series: np.ndarray) -> np.ndarray:
    """f_j = mean_t [sum_i w_i x_{t + (i - 4) d} - b_j > 0], loops only (the paper's formula)."""
    fitted = bb.fitted
    sel = bb.selection.numpy()
    biases = bb.biases.numpy()
    x = np.where(np.isnan(series), bb.fill.numpy(), series)  # (T, C)
    t_len = len(x)
    out, j = [], 0
    for i, (d, n) in enumerate(zip(fitted["dilations"], fitted["counts"], strict=True)):
        for k, w in enumerate(KERNELS):
            conv = np.zeros(t_len)
            for t in range(t_len):
                for tap in range(9):
                    s = t + (tap - 4) * d
                    if 0 <= s < t_len:
                        conv[t] += w[tap] * sum(x[s, c] for c in range(x.shape[1]) if sel[i, k, c])
            steps = conv if (i + k) % 2 == 0 else conv[4 * d: t_len - 4 * d]
            for _ in range(n):
                out.append(float(np.mean(steps > biases[j])) if len(steps) else 0.0)
                j += 1
    return np.array(out)


@pytest.mark.parametrize("channels", [1, 3])
def test_features_equal_the_hand_computed_formula(channels: int) -> None:
    rng = np.random.default_rng(0)
    train = [rng.normal(size=(40, channels)).astype(np.float32) for _ in range(5)]
    bb = MiniRocketBackbone(168)
    bb.adapt_to(train)
    assert bb.feature_dim == 168 and len(bb.fitted["dilations"]) == 2  # 40 steps: d = 1, 4
    probe = [rng.normal(size=(40, channels)).astype(np.float32),
             rng.normal(size=(25, channels)).astype(np.float32)]  # a shorter one: its own steps
    probe[1][3, 0] = np.nan  # a missing value: the channel's training mean
    with torch.inference_mode():
        got = bb(bb.collate(probe)).numpy()
    for row, series in zip(got, probe, strict=True):
        np.testing.assert_allclose(row, _hand_features(bb, series), atol=1e-6)


def test_kernels_dilations_and_bias_quantiles_follow_the_paper() -> None:
    assert KERNELS.shape == (84, 9) and len({tuple(k) for k in KERNELS}) == 84
    assert (KERNELS.sum(1) == 0).all() and ((KERNELS == 2).sum(1) == 3).all()
    dilations, counts = fit_dilations(150)  # GunPoint's length
    assert dilations[0] == 1 and dilations[-1] == int(2 ** np.log2(149 / 8)) and counts.sum() == 119
    assert quantile_levels(3) == pytest.approx([0.6180340, 0.2360680, 0.8541020], abs=1e-6)
    rng = np.random.default_rng(1)
    series = rng.normal(size=(30, 1)).astype(np.float32)
    bb = MiniRocketBackbone(84)
    bb.adapt_to([series])  # one training series: every bias is a quantile of its convolution
    with torch.inference_mode():
        f = bb(bb.collate([series])).numpy()[0]
    levels = quantile_levels(84)
    full = [k for k in range(84) if k % 2 == 0]  # dilation index 0: even kernels pool every step
    np.testing.assert_allclose(f[full], 1 - levels[full], atol=1 / 30 + 1e-6)


def test_the_default_probe_on_minirocket_is_the_ridge_classifier(tmp_path) -> None:
    import transferkit as tk

    run = tk.fit(data="italy-power-demand", backbone="minirocket:840", shots=5, max_test=60, seed=0,
                 out=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"), log=None)
    stage = run.summary["stages"][0]
    assert stage["solver"]["solver"].startswith("ridge")
    assert stage["solver"]["alpha_chosen_on"].startswith("leave-one-out")
    assert run.summary["metrics"]["test"]["accuracy"] > 0.7
    logistic = tk.fit(data="italy-power-demand", backbone="minirocket:840", shots=5, max_test=60, seed=0,
                      strategy_params={"solver": "lbfgs"}, out=str(tmp_path / "l"),
                      cache_dir=str(tmp_path / "c"), log=None)
    assert logistic.summary["stages"][0]["solver"]["solver"] == "lbfgs"
