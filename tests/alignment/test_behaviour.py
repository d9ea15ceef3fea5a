"""Training with each loss does what the method promises, on two shifted Gaussian blobs."""

import numpy as np
import pytest
import torch

from transferkit.alignment import build_alignment

N = 120
SHIFT = 1.5


def blobs(seed: int, shift: str):
    """Two classes along e1; the target differs along e2 (mean or variance) or along e1."""
    gen = torch.Generator().manual_seed(seed)

    def sample(offset: torch.Tensor, scale: torch.Tensor):
        y = torch.arange(N) % 2
        x = torch.randn(N, 4, generator=gen) * scale
        x[:, 0] += torch.where(y == 1, 2.0, -2.0)
        return x + offset, y

    unit = torch.tensor([0.5, 1.0, 1.0, 1.0])
    x_s, y_s = sample(torch.zeros(4), unit)
    if shift == "mean":
        x_t, y_t = sample(torch.tensor(MEAN_SHIFT, dtype=torch.float32), unit)
    elif shift == "variance":
        x_t, y_t = sample(torch.zeros(4), torch.tensor([0.5, 4.0, 1.0, 1.0]))
    else:  # "boundary": the target's classes sit to the right of the source's boundary
        x_t, y_t = sample(torch.tensor([SHIFT, 0.0, 0.0, 0.0]), unit)
    return x_s, y_s, x_t, y_t


def train(name: str | None, shift: str, params: dict | None = None, steps: int = 300, seed: int = 0):
    torch.manual_seed(seed)
    x_s, y_s, x_t, y_t = blobs(seed, shift)
    extractor, head = torch.nn.Linear(4, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():  # start from features that carry the shift, whatever the seed
        extractor.weight.copy_(torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.0, 0.5, 0.5, 0.5]]))
    modules = [extractor, head]
    loss_fn = None
    if name is not None:
        loss_fn = build_alignment(name, 2, 2, params)
        modules.append(loss_fn)
    opt = torch.optim.Adam([p for m in modules for p in m.parameters()], lr=0.01, betas=(0.5, 0.999))
    for step in range(steps):
        f_s, f_t = extractor(x_s), extractor(x_t)
        z_s, z_t = head(f_s), head(f_t)
        loss = torch.nn.functional.cross_entropy(z_s, y_s)
        if loss_fn is not None:
            loss_fn.set_progress(step / steps)
            loss = loss + loss_fn(f_s, f_t, z_s, z_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc_s = (head(extractor(x_s)).argmax(1) == y_s).float().mean().item()
        acc_t = (head(extractor(x_t)).argmax(1) == y_t).float().mean().item()
    return extractor.weight.detach().double().numpy(), acc_s, acc_t


# population statistics of the blobs, so that the gaps below carry no sampling noise
COV_S = np.diag([0.25 + 4.0, 1.0, 1.0, 1.0])  # within-class variance + class means at +-2
COV_T_VARIANCE = np.diag([0.25 + 4.0, 16.0, 1.0, 1.0])
MEAN_SHIFT = np.array([0.0, 4.0, 4.0, 4.0])


def mean_gap(w: np.ndarray) -> float:
    """Mahalanobis distance between the domains' feature means, in source feature units."""
    delta = w @ MEAN_SHIFT
    return float(np.sqrt(delta @ np.linalg.solve(w @ COV_S @ w.T, delta)))


def covariance_gap(w: np.ndarray) -> float:
    """max |log lambda| over the generalised eigenvalues of the feature covariances: scale-free."""
    ratios = np.linalg.eigvals(np.linalg.solve(w @ COV_S @ w.T, w @ COV_T_VARIANCE @ w.T)).real
    return float(np.max(np.abs(np.log(ratios))))


@pytest.mark.parametrize("name, params", [
    ("mmd", None),
    ("dann", {"hidden_dim": 32, "dropout": 0.0}),
    ("cdan", {"hidden_dim": 32, "dropout": 0.0}),
])
def test_mean_shift_is_removed(name, params):
    w, _, _ = train(None, "mean")
    before = mean_gap(w)
    w, acc_s, _ = train(name, "mean", params)
    after = mean_gap(w)
    assert before > 2.0
    assert after < before / 4, (before, after)
    assert acc_s > 0.9  # the classes stay separable


def test_coral_removes_a_covariance_shift():
    w, _, _ = train(None, "variance")
    before = covariance_gap(w)
    w, acc_s, _ = train("coral", "variance", {"weight": 10.0})
    after = covariance_gap(w)
    assert before > 1.5
    assert after < before / 3, (before, after)
    assert acc_s > 0.9


@pytest.mark.parametrize("name, params", [("entropy", {"weight": 1.0}), ("mcc", {"weight": 1.0})])
def test_target_prediction_losses_move_the_boundary_into_the_gap(name, params):
    _, _, before = train(None, "boundary", seed=1)
    _, _, after = train(name, "boundary", params, seed=1)
    assert after > before + 0.05, (before, after)
