import numpy as np
import pytest
from sklearn.decomposition import PCA

from transferkit.errors import ConfigError
from transferkit.shallow import SHALLOW


def data(seed=0):
    rng = np.random.default_rng(seed)
    f_s = rng.normal(size=(80, 5)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2])
    f_t = rng.normal(size=(60, 5)) * np.array([0.3, 1.0, 2.5, 1.5, 0.5]) + 1.0
    return f_s, f_t


def test_subspace_alignment_matches_the_paper_formula():
    f_s, f_t = data()
    sa = SHALLOW.create("subspace", n_components=3).fit(f_s, f_t)
    x_s = PCA(3).fit(f_s).components_.T  # (D, d)
    x_t = PCA(3).fit(f_t).components_.T
    # PCA bases are defined up to the sign of each column: compare sign-free quantities
    np.testing.assert_allclose(sa.basis_s_ @ sa.basis_s_.T, x_s @ x_s.T, atol=1e-9)
    np.testing.assert_allclose(sa.basis_t_ @ sa.basis_t_.T, x_t @ x_t.T, atol=1e-9)
    np.testing.assert_allclose(sa.alignment_, sa.basis_s_.T @ sa.basis_t_, atol=1e-12)
    src = sa.transform_source(f_s)
    tgt = sa.transform_target(f_t)
    assert src.shape == (80, 3) and tgt.shape == (60, 3)
    # S_a = X_s M = X_s X_s^T X_t: source (x_s - mu_s) X_s M, target (x_t - mu_t) X_t
    cross = ((f_s - f_s.mean(0)) @ x_s @ x_s.T @ x_t) @ ((f_t - f_t.mean(0)) @ x_t).T
    np.testing.assert_allclose(src @ tgt.T, cross, rtol=1e-8, atol=1e-8)


def test_identical_domains_give_identical_coordinates():
    f_s, _ = data(1)
    sa = SHALLOW.create("subspace", n_components=2).fit(f_s, f_s.copy())
    np.testing.assert_allclose(sa.alignment_, np.eye(2), atol=1e-9)
    np.testing.assert_allclose(sa.transform_source(f_s), sa.transform_target(f_s), atol=1e-9)


def test_n_components_default_and_limits():
    f_s, f_t = data(2)
    assert SHALLOW.create("subspace").fit(f_s, f_t).n_components_ == 5
    with pytest.raises(ConfigError, match="at most min"):
        SHALLOW.create("subspace", n_components=6).fit(f_s, f_t)
    with pytest.raises(ConfigError, match="n_components"):
        SHALLOW.create("subspace", n_components=0)
