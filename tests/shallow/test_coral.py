import numpy as np
import pytest
from scipy.linalg import fractional_matrix_power

from transferkit.errors import ConfigError
from transferkit.shallow import SHALLOW


def data(seed=0):
    rng = np.random.default_rng(seed)
    f_s = rng.normal(size=(200, 4)) @ np.diag([1.0, 2.0, 0.5, 1.0])
    mix = np.array([[1.0, 0.5, 0, 0], [0.5, 2.0, 0.3, 0], [0, 0.3, 1.5, 0], [0, 0, 0, 0.7]])
    f_t = rng.normal(size=(150, 4)) @ mix + 3.0
    return f_s, f_t


def test_coral_transform_matches_the_paper_formula():
    f_s, f_t = data()
    coral = SHALLOW.create("coral").fit(f_s, f_t)
    c_s = np.cov(f_s.T) + np.eye(4)
    c_t = np.cov(f_t.T) + np.eye(4)
    expected = f_s @ fractional_matrix_power(c_s, -0.5) @ fractional_matrix_power(c_t, 0.5)
    np.testing.assert_allclose(coral.transform_source(f_s), expected.real, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(coral.transform_target(f_t), f_t)


def test_coral_gives_the_source_the_target_covariance():
    f_s, f_t = data(1)
    coral = SHALLOW.create("coral", regularization=1e-9).fit(f_s, f_t)
    np.testing.assert_allclose(np.cov(coral.transform_source(f_s).T), np.cov(f_t.T), atol=1e-6)
    # with the paper's lambda = 1 the match is exact between the regularised covariances
    a = SHALLOW.create("coral").fit(f_s, f_t).matrix_
    eye = np.eye(4)
    np.testing.assert_allclose(a.T @ (np.cov(f_s.T) + eye) @ a, np.cov(f_t.T) + eye, atol=1e-9)


def test_match_mean_moves_the_source_mean_onto_the_target_mean():
    f_s, f_t = data(2)
    coral = SHALLOW.create("coral", match_mean=True, regularization=1e-9).fit(f_s, f_t)
    out = coral.transform_source(f_s)
    np.testing.assert_allclose(out.mean(0), f_t.mean(0), atol=1e-9)
    np.testing.assert_allclose(np.cov(out.T), np.cov(f_t.T), atol=1e-6)


def test_coral_rejects_a_non_positive_regularization():
    with pytest.raises(ConfigError, match="regularization"):
        SHALLOW.create("coral", regularization=0)
