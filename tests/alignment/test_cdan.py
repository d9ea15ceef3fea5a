import math

import numpy as np
import pytest
import torch

from transferkit.alignment import build_alignment


def numpy_mlp(net: torch.nn.Sequential, x: np.ndarray) -> np.ndarray:
    h = x
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            h = h @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()
        elif isinstance(layer, torch.nn.ReLU):
            h = np.maximum(h, 0)
    return h[:, 0]


def softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def hand_cdan(loss, fs, ft, zs, zt, entropy_conditioning=True):
    def features(f, z):
        g = softmax(z)
        if loss.randomized:
            rf = loss.proj_f.double().numpy()
            rg = loss.proj_g.double().numpy()
            d = rf.shape[0]
            return [sum(rf[r, a] * f[a] for a in range(len(f))) * sum(rg[r, c] * g[c] for c in range(len(g)))
                    / math.sqrt(d) for r in range(d)], g
        return [g[c] * f[a] for c in range(len(g)) for a in range(len(f))], g  # index c * D + a

    def domain_term(fx, zx, source):
        maps, ws = [], []
        for f, z in zip(fx, zx, strict=True):
            h, g = features(f, z)
            maps.append(h)
            ent = -sum(p * math.log(p) for p in g)
            ws.append(1 + math.exp(-ent) if entropy_conditioning else 1.0)
        d = numpy_mlp(loss.discriminator.net, np.array(maps))
        sig = [1 / (1 + math.exp(-v)) for v in d]
        terms = [-math.log(s) if source else -math.log(1 - s) for s in sig]
        return sum(w * t for w, t in zip(ws, terms, strict=True)) / sum(ws)

    return 0.5 * (domain_term(fs, zs, True) + domain_term(ft, zt, False))


@pytest.mark.parametrize("entropy_conditioning", [True, False])
@pytest.mark.parametrize("randomized", [False, True])
def test_cdan_matches_hand_computation(entropy_conditioning, randomized):
    torch.manual_seed(0)
    rng = np.random.default_rng(6)
    params = {"hidden_dim": 4, "dropout": 0.0, "entropy_conditioning": entropy_conditioning,
              "schedule": "constant", "randomized_dim": 5}
    params["max_multilinear_dim"] = 5 if randomized else 4096
    loss = build_alignment("cdan", 3, 2, params).double()
    assert loss.randomized is randomized
    fs, ft = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    zs, zt = rng.normal(size=(4, 2)) * 2, rng.normal(size=(5, 2)) * 2
    got = loss(*(torch.tensor(a) for a in (fs, ft, zs, zt))).item()
    assert got == pytest.approx(hand_cdan(loss, fs, ft, zs, zt, entropy_conditioning), rel=1e-9)


def test_cdan_reverses_feature_gradients_and_does_not_train_the_classifier_through_g():
    torch.manual_seed(1)
    loss = build_alignment("cdan", 3, 2, {"hidden_dim": 4, "dropout": 0.0}).double()
    loss.set_progress(1.0)
    f_s = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    f_t = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    z_s = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    z_t = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    loss(f_s, f_t, z_s, z_t).backward()
    assert z_s.grad is None and z_t.grad is None  # the conditioning is detached

    # without reversal the feature gradient has the opposite sign, scaled by 1/lambda
    g_s = f_s.detach().clone().requires_grad_(True)
    g_t = f_t.detach().clone().requires_grad_(True)
    loss.config.max_lambda = -1.0  # a reversal by -(-1) = identity
    loss.config.schedule = "constant"
    loss(g_s, g_t, z_s.detach(), z_t.detach()).backward()
    lam = 2 / (1 + math.exp(-10)) - 1
    assert torch.allclose(f_s.grad, -lam * g_s.grad, atol=1e-12)
    assert torch.allclose(f_t.grad, -lam * g_t.grad, atol=1e-12)


def test_cdan_uses_the_randomised_map_for_large_outputs():
    loss = build_alignment("cdan", 512, 10, {"randomized_dim": 64, "hidden_dim": 16})
    assert loss.randomized and loss.discriminator.net[0].in_features == 64
    again = build_alignment("cdan", 512, 10, {"randomized_dim": 64, "hidden_dim": 16})
    assert torch.equal(loss.proj_f, again.proj_f)  # fixed by the seed
    small = build_alignment("cdan", 16, 3, {"hidden_dim": 16})
    assert not small.randomized and small.discriminator.net[0].in_features == 48
