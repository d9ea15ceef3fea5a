import numpy as np
import pytest

from transferkit.errors import ConfigError
from transferkit.shallow import SHALLOW


@pytest.mark.parametrize("n_s, n_t", [(4000, 4000), (2000, 6000)])
def test_weights_recover_the_density_ratio_of_two_gaussians(n_s, n_t):
    rng = np.random.default_rng(0)
    f_s = rng.normal(0.0, 1.0, size=(n_s, 1))
    f_t = rng.normal(1.0, 1.0, size=(n_t, 1))
    iw = SHALLOW.create("importance", C=100.0).fit(f_s, f_t)
    grid = np.linspace(-1.0, 2.0, 13)[:, None]
    true_ratio = np.exp(grid[:, 0] - 0.5)  # N(1, 1) / N(0, 1)
    np.testing.assert_allclose(np.log(iw.density_ratio(grid)), np.log(true_ratio), atol=0.15)


def test_weights_are_clipped_then_normalised_to_mean_one():
    rng = np.random.default_rng(1)
    f_s = rng.normal(0.0, 1.0, size=(500, 2))
    f_t = rng.normal(1.5, 1.0, size=(300, 2))
    iw = SHALLOW.create("importance", max_weight=2.0).fit(f_s, f_t)
    raw = iw.density_ratio(f_s)
    assert raw.max() > 2.0  # the clip matters here
    w = iw.sample_weight(f_s)
    expected = np.minimum(raw, 2.0)
    np.testing.assert_allclose(w, expected / expected.mean(), rtol=1e-12)
    assert w.mean() == pytest.approx(1.0) and (w > 0).all()
    assert 0.5 < iw.domain_accuracy_ <= 1.0
    np.testing.assert_array_equal(iw.transform_source(f_s), f_s)


def test_same_distribution_gives_weights_near_one():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(8000, 3))
    w = SHALLOW.create("importance").fit(f[:4000], f[4000:]).sample_weight(f[:4000])
    assert w.std() < 0.1, w.std()  # only the domain classifier's sampling noise
    shifted = SHALLOW.create("importance").fit(f[:4000], f[4000:] + 0.5).sample_weight(f[:4000])
    assert shifted.std() > 5 * w.std()


@pytest.mark.parametrize("key", ["C", "max_weight"])
def test_bad_parameters(key):
    with pytest.raises(ConfigError, match=key):
        SHALLOW.create("importance", **{key: 0})
